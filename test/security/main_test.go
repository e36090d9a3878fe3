package security

import (
	"testing"

	"github.com/lookoutdev/lookout/internal/lookouttest"
)

var lookoutBin string

func TestMain(m *testing.M) { lookouttest.Main(m, &lookoutBin) }
