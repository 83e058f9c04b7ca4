// Package rotatingfileexporter writes OTLP data as JSON lines (one Export<Signal>ServiceRequest per
// line, the same lines as the contrib file exporter) to a file rotated by size and by time, with
// rotated backups gzipped in the background and pruned by count and age. It never refuses a write
// for its size, and it answers the pipeline only after the write.
package rotatingfileexporter

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
)

const (
	typeStr   = "rotating_file"
	stability = component.StabilityLevelBeta
)

var componentType = component.MustNewType(typeStr)

// NewFactory is the factory of the rotating_file exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(
		componentType,
		createDefaultConfig,
		exporter.WithLogs(createLogs, stability),
		exporter.WithTraces(createTraces, stability),
		exporter.WithMetrics(createMetrics, stability),
	)
}

// createDefaultConfig holds every default: 10 MiB files, rotated daily at local midnight, gzipped,
// 10 backups kept for at most 7 days, acknowledged once the OS has the write.
func createDefaultConfig() component.Config {
	return &Config{
		MaxMegabytes:     10,
		RotationInterval: 24 * time.Hour,
		Compression:      CompressionGzip,
		MaxFiles:         10,
		MaxDays:          7,
		Fsync:            false,
	}
}

// No queue and no retry in the exporter: the caller waits for the write and gets its error.
var capabilities = exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false})

func createLogs(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	e := newFileExporter(cfg.(*Config), set.Logger)
	return exporterhelper.NewLogs(ctx, set, cfg, e.consumeLogs,
		exporterhelper.WithStart(e.start), exporterhelper.WithShutdown(e.shutdown), capabilities)
}

func createTraces(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Traces, error) {
	e := newFileExporter(cfg.(*Config), set.Logger)
	return exporterhelper.NewTraces(ctx, set, cfg, e.consumeTraces,
		exporterhelper.WithStart(e.start), exporterhelper.WithShutdown(e.shutdown), capabilities)
}

func createMetrics(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Metrics, error) {
	e := newFileExporter(cfg.(*Config), set.Logger)
	return exporterhelper.NewMetrics(ctx, set, cfg, e.consumeMetrics,
		exporterhelper.WithStart(e.start), exporterhelper.WithShutdown(e.shutdown), capabilities)
}
