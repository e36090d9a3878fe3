package podlogsreceiver

import (
	"path/filepath"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Resource attribute names, from the OpenTelemetry semantic conventions.
const (
	attrNamespace    = "k8s.namespace.name"
	attrPodName      = "k8s.pod.name"
	attrPodUID       = "k8s.pod.uid"
	attrContainer    = "k8s.container.name"
	attrRestartCount = "k8s.container.restart_count"
	attrFilePath     = "log.file.path"
	attrIOStream     = "log.iostream"
)

// identity is the Kubernetes identity of a container log file, taken from its path:
// .../<namespace>_<pod>_<uid>/<container>/<restart>.log.
type identity struct {
	namespace, pod, uid, container string
	restart                        int64
	ok                             bool
}

func parseIdentity(path string) identity {
	var id identity
	base := filepath.Base(path)
	restart, ok := strings.CutSuffix(base, ".log")
	if !ok {
		return id
	}
	n, err := strconv.ParseInt(restart, 10, 64)
	if err != nil || n < 0 {
		return id
	}
	containerDir := filepath.Dir(path)
	podDir := filepath.Base(filepath.Dir(containerDir))
	// Namespace and pod names are DNS names and UIDs are hex and dashes: none has an underscore.
	parts := strings.Split(podDir, "_")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return id
	}
	container := filepath.Base(containerDir)
	if container == "" || container == "." || container == "/" {
		return id
	}
	return identity{namespace: parts[0], pod: parts[1], uid: parts[2], container: container, restart: n, ok: true}
}

// fill writes the identity as resource attributes; a path that does not follow the layout gets
// only log.file.path.
func (id identity) fill(m pcommon.Map, path string) {
	if !id.ok {
		m.PutStr(attrFilePath, path)
		return
	}
	m.EnsureCapacity(5)
	m.PutStr(attrNamespace, id.namespace)
	m.PutStr(attrPodName, id.pod)
	m.PutStr(attrPodUID, id.uid)
	m.PutStr(attrContainer, id.container)
	m.PutInt(attrRestartCount, id.restart)
}
