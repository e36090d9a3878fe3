package collector

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/confmap"
)

// NewBufferReuseConverterFactory returns the converter that decides podlogs' reuse_buffers
// (receivers/podlogs/README.md): a podlogs receiver writes each batch's log bodies over the last
// batch's only when every component of every pipeline it feeds is known to keep nothing of a
// body once its ConsumeLogs has returned (bufferSafe). Unset, the converter sets it to that
// answer; set to false, it stays off; set to true where it is not safe, the config is refused.
func NewBufferReuseConverterFactory() confmap.ConverterFactory {
	return confmap.NewConverterFactory(func(confmap.ConverterSettings) confmap.Converter { return bufferReuse{} })
}

type bufferReuse struct{}

func (bufferReuse) Convert(_ context.Context, conf *confmap.Conf) error {
	receivers, _ := conf.Get("receivers").(map[string]any)
	for id := range receivers {
		if componentType(id) != "podlogs" {
			continue
		}
		unsafe := unsafeFor(conf, id)
		key := "receivers::" + id + "::reuse_buffers"
		if conf.IsSet(key) {
			if set, _ := conf.Get(key).(bool); set && unsafe != "" {
				return fmt.Errorf("%s: %s, which may keep log bodies after it returns; the bodies' memory cannot be reused (receivers/podlogs/README.md)", key, unsafe)
			}
			continue
		}
		if err := conf.Merge(confmap.NewFromStringMap(map[string]any{
			"receivers": map[string]any{id: map[string]any{"reuse_buffers": unsafe == ""}},
		})); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	return nil
}

// unsafeFor names the first component of a pipeline fed by the receiver id that is not known to
// let go of log bodies (or says that no pipeline uses the receiver), or is "" when there is none.
func unsafeFor(conf *confmap.Conf, id string) string {
	pipelines, _ := conf.Get("service::pipelines").(map[string]any)
	fed := false
	for name, p := range pipelines {
		pipeline, _ := p.(map[string]any)
		if receivers, _ := pipeline["receivers"].([]any); !slices.Contains(receivers, any(id)) {
			continue
		}
		fed = true
		for _, kind := range []string{"processors", "exporters"} {
			list, _ := pipeline[kind].([]any)
			for _, c := range list {
				s, _ := c.(string)
				if !bufferSafe(kind, componentType(s)) {
					return fmt.Sprintf("pipeline %s has %s %q", name, strings.TrimSuffix(kind, "s"), c)
				}
			}
		}
	}
	if !fed {
		return "no pipeline uses it"
	}
	return ""
}

// bufferSafe says whether a processor or exporter of type t keeps nothing of a log record's body,
// nor any string cut from it, once its ConsumeLogs has returned. Any other component may (batch
// and the in-memory queues of exporters that queue pdata hold whole batches; connectors feed
// pipelines that are not checked here), and so keeps the receiver from reusing its buffers.
// The processors listed work on the batch in place; OTTL (transform, filter) compiles a pattern
// read from the data anew at each use and caches nothing of it. loki encodes the push request
// before it queues anything, whatever its sending_queue.
func bufferSafe(kind, t string) bool {
	switch kind {
	case "processors":
		switch t {
		case "memory_limiter", "k8s_attributes", "resource", "attributes", "filter", "transform", "masking":
			return true
		}
	case "exporters":
		return t == "loki"
	}
	return false
}

func componentType(id string) string {
	t, _, _ := strings.Cut(id, "/")
	return t
}
