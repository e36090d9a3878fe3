// Package podlogsreceiver tails Kubernetes container log files (/var/log/pods) and delivers
// every line at least once: CRI and docker json-file formats, the pod's identity from the path,
// multiline records, rotation by rename and by copytruncate, and offsets committed to a storage
// extension only after the next consumer accepted the data. See README.md.
package podlogsreceiver

//go:generate go run -C ../../internal/tools go.opentelemetry.io/collector/cmd/mdatagen ../../receivers/podlogs/metadata.yaml
//go:generate sed -i -e "s/^package podlogs$/package podlogsreceiver/" generated_component_test.go generated_package_test.go
