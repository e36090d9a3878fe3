package collector

// Every gRPC client and server in the distribution compresses "zstd" with encoders kept across
// garbage collections (see the package).
import _ "github.com/lookoutdev/lookout/collector/internal/grpczstd"
