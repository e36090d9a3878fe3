package startuppages

// Config is the configuration of the startup_pages extension. It has no settings: listing the
// extension in service::extensions turns it on.
type Config struct{}
