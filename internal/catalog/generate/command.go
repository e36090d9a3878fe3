package generate

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lookoutdev/lookout/internal/catalog"
)

// NewCommand returns the `catalog` command: generate, check and secrets.
func NewCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "catalog",
		Short: "Generate dashboards, alerts and on-call routes from the service catalog",
		Long: "The service catalog (docs/catalog.md) lists teams and their services' SLOs; these commands turn it\n" +
			"into Grafana dashboards, Prometheus rules, an Alertmanager config and runbooks.",
		SilenceUsage: true,
	}
	cmd.AddCommand(generateCommand(false), generateCommand(true), secretsCommand())
	return cmd
}

type flags struct {
	catalog, out string
}

func (f *flags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.catalog, "catalog", DefaultCatalog, "the catalog file")
	cmd.Flags().StringVar(&f.out, "out", ".", "the directory to write under (the repository root)")
}

// load reads the catalog; generated files name it relative to the output directory.
func (f *flags) load() (*catalog.Catalog, error) {
	name := f.catalog
	if rel, err := filepath.Rel(f.out, f.catalog); err == nil && !strings.HasPrefix(rel, "..") {
		name = filepath.ToSlash(rel)
	}
	return Load(f.catalog, name)
}

func generateCommand(check bool) *cobra.Command {
	var f flags
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Write dashboards/generated, alerts/generated and docs/runbooks from the catalog",
		Args:  cobra.NoArgs,
	}
	if check {
		cmd.Use = "check"
		cmd.Short = "Validate the catalog and fail if the generated files under --out differ from it"
	}
	f.add(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := f.load()
		if err != nil {
			return err
		}
		files, err := Files(c)
		if err != nil {
			return err
		}
		if check {
			changes, err := Diff(f.out, files)
			if err != nil {
				return err
			}
			for _, ch := range changes {
				fmt.Fprintln(cmd.OutOrStdout(), ch)
			}
			if len(changes) > 0 {
				return fmt.Errorf("%d generated files are out of date: run `lookout catalog generate --catalog %s --out %s`", len(changes), f.catalog, f.out)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d teams, %d services; %d generated files up to date\n", c.File, len(c.Teams), len(c.Services), len(files))
			return nil
		}
		changes, err := Write(f.out, files)
		if err != nil {
			return err
		}
		for _, ch := range changes {
			fmt.Fprintln(cmd.OutOrStdout(), ch)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s: %d teams, %d services; %d files generated, %d changed\n", c.File, len(c.Teams), len(c.Services), len(files), len(changes))
		return nil
	}
	return cmd
}

func secretsCommand() *cobra.Command {
	var f flags
	var dir string
	cmd := &cobra.Command{
		Use:   "secrets",
		Short: "Write the PagerDuty routing keys given by environment variables (pagerduty.routing_key_env) to the files Alertmanager reads",
		Long: "Alertmanager does not read environment variables in its config; it reads secrets from files\n" +
			"(routing_key_file, api_url_file). For teams whose catalog entry names an environment variable,\n" +
			"this writes the variable's value to <dir>/pagerduty-<team>.key (mode 0600), the path the generated\n" +
			"alertmanager.yaml points at. Run it before Alertmanager starts (e.g. in an init container).",
		Args: cobra.NoArgs,
	}
	f.add(cmd)
	cmd.Flags().StringVar(&dir, "dir", "", "write the files here instead of settings.alertmanager.secrets_dir")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := f.load()
		if err != nil {
			return err
		}
		written, err := WriteSecrets(c, dir, os.LookupEnv)
		for _, p := range written {
			fmt.Fprintln(cmd.OutOrStdout(), "wrote", p)
		}
		return err
	}
	return cmd
}

// WriteSecrets writes, for every team with pagerduty.routing_key_env, the variable's value to its
// key file (under dir, or settings.alertmanager.secrets_dir when dir is empty). A variable that is
// unset or empty is an error naming it; the other files are still written.
func WriteSecrets(c *catalog.Catalog, dir string, lookup func(string) (string, bool)) ([]string, error) {
	var (
		written []string
		errs    []error
	)
	for _, t := range c.Teams {
		env := t.PagerDuty.RoutingKeyEnv
		if env == "" {
			continue
		}
		v, ok := lookup(env)
		if !ok || strings.TrimSpace(v) == "" {
			errs = append(errs, fmt.Errorf("team %s: environment variable %s (pagerduty.routing_key_env) is not set", t.ID, env))
			continue
		}
		path := t.KeyFile(c.Settings)
		if dir != "" {
			path = filepath.Join(dir, filepath.Base(path))
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := writeFile(path, strings.TrimSpace(v)); err != nil {
			errs = append(errs, fmt.Errorf("team %s: %w", t.ID, err))
			continue
		}
		written = append(written, path)
	}
	return written, errors.Join(errs...)
}

func writeFile(path, content string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(f, content); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
