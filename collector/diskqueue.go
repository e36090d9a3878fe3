package collector

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/otlpexporter"
	"go.opentelemetry.io/collector/exporter/otlphttpexporter"
	"go.opentelemetry.io/collector/exporter/xexporter"

	"github.com/lookoutdev/lookout/collector/internal/tracequeue"
)

// An exporterhelper exporter whose sending queue batches declares that it mutates the data it
// consumes ("Batcher mutates the data"), so a pipeline that also sends the same data to another
// consumer copies every request for it: the agent's traces go to otlp_grpc/tempo, span_metrics
// and service_graph, and each request was deep-copied (a tenth of the bytes the agent allocated
// on the trace benchmark). With the queue on disk (sending_queue::storage) that is never so: the
// queue encodes a request onto disk before ConsumeTraces returns, and its batcher merges the
// copies it reads back. diskQueueExporters makes the OTLP exporters say so when their queue is
// on disk; with it in memory they keep upstream's answer. Profiles are left as they are.
//
// otlp_grpc's traces with the queue on disk and batches without a maximum size (the agent's
// otlp_grpc/tempo) go further: package tracequeue queues, batches and sends the encoded requests,
// so that no span is decoded after it was received.

// otlpQueue returns the sending queue of an OTLP exporter's config; ok is false for any other
// config.
func otlpQueue(cfg component.Config) (q configoptional.Optional[exporterhelper.QueueBatchConfig], ok bool) {
	switch c := cfg.(type) {
	case *otlpexporter.Config:
		return c.QueueConfig, true
	case *otlphttpexporter.Config:
		return c.QueueConfig, true
	}
	return q, false
}

// queueOnDisk reports whether an OTLP exporter's config queues on disk.
func queueOnDisk(cfg component.Config) bool {
	q, ok := otlpQueue(cfg)
	return ok && tracequeue.QueueOnDisk(q)
}

// diskQueueExporters replaces the OTLP exporters' factories in f (under their types and their
// deprecated aliases) with factories whose exporters do not mutate data when queued on disk.
func diskQueueExporters(f map[component.Type]exporter.Factory) {
	wrapped := map[component.Type]exporter.Factory{}
	for k, v := range f {
		xf, ok := v.(xexporter.Factory)
		if !ok {
			continue
		}
		if _, otlp := otlpQueue(xf.CreateDefaultConfig()); !otlp {
			continue
		}
		if wrapped[v.Type()] == nil {
			wrapped[v.Type()] = diskQueueFactory{xf}
		}
		f[k] = wrapped[v.Type()]
	}
}

// aliasHolder is the interface through which the collector finds a factory's deprecated type
// alias (e.g. otlp for otlp_grpc) and warns about its use.
type aliasHolder interface {
	DeprecatedAlias() component.Type
	SetDeprecatedAlias(component.Type)
}

type diskQueueFactory struct {
	xexporter.Factory
}

var _ aliasHolder = diskQueueFactory{}

func (f diskQueueFactory) DeprecatedAlias() component.Type {
	if h, ok := f.Factory.(aliasHolder); ok {
		return h.DeprecatedAlias()
	}
	return component.Type{}
}

func (f diskQueueFactory) SetDeprecatedAlias(t component.Type) {
	if h, ok := f.Factory.(aliasHolder); ok {
		h.SetDeprecatedAlias(t)
	}
}

func (f diskQueueFactory) CreateTraces(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Traces, error) {
	var (
		e   exporter.Traces
		err error
	)
	if c, ok := cfg.(*otlpexporter.Config); ok && tracequeue.Applies(c) {
		e, err = tracequeue.NewTraces(ctx, set, c) // queues, batches and sends the encoded requests
	} else {
		e, err = f.Factory.CreateTraces(ctx, set, cfg)
	}
	if err != nil || !queueOnDisk(cfg) {
		return e, err
	}
	return readOnlyTraces{e}, nil
}

func (f diskQueueFactory) CreateMetrics(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Metrics, error) {
	e, err := f.Factory.CreateMetrics(ctx, set, cfg)
	if err != nil || !queueOnDisk(cfg) {
		return e, err
	}
	return readOnlyMetrics{e}, nil
}

func (f diskQueueFactory) CreateLogs(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	e, err := f.Factory.CreateLogs(ctx, set, cfg)
	if err != nil || !queueOnDisk(cfg) {
		return e, err
	}
	return readOnlyLogs{e}, nil
}

type readOnlyTraces struct{ exporter.Traces }

func (readOnlyTraces) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

type readOnlyMetrics struct{ exporter.Metrics }

func (readOnlyMetrics) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

type readOnlyLogs struct{ exporter.Logs }

func (readOnlyLogs) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }
