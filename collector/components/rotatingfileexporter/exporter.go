package rotatingfileexporter

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"
)

// fileExporter writes one signal to its rotating file and answers only after the write: the
// pipeline (and so the OTLP receiver's answer to the sender) gets every write error.
type fileExporter struct {
	cfg    *Config
	logger *zap.Logger

	file *rotatingFile
	host component.Host

	statusMu sync.Mutex
	failing  bool // the last write failed: status is RecoverableError until a write succeeds
}

func newFileExporter(cfg *Config, logger *zap.Logger) *fileExporter {
	return &fileExporter{cfg: cfg, logger: logger}
}

func (e *fileExporter) start(_ context.Context, host component.Host) error {
	f, err := openFiles.acquire(e.cfg, e.logger)
	if err != nil {
		return err
	}
	e.file, e.host = f, host
	return nil
}

func (e *fileExporter) shutdown(ctx context.Context) error {
	if e.file == nil {
		return nil
	}
	e.file = nil
	return openFiles.release(ctx, e.cfg)
}

func (e *fileExporter) consumeLogs(_ context.Context, ld plog.Logs) error {
	return writeEncoded(e, logsEncoding, ld)
}

func (e *fileExporter) consumeTraces(_ context.Context, td ptrace.Traces) error {
	return writeEncoded(e, tracesEncoding, td)
}

func (e *fileExporter) consumeMetrics(_ context.Context, md pmetric.Metrics) error {
	return writeEncoded(e, metricsEncoding, md)
}

func writeEncoded[T any](e *fileExporter, enc encoding[T], data T) error {
	lines, err := enc.lines(data, e.file.opts.maxBytes)
	if err != nil {
		// Data that cannot be encoded will not encode on a retry either.
		return consumererror.NewPermanent(err)
	}
	err = e.file.write(lines)
	e.reportStatus(err)
	return err
}

// reportStatus turns write failures into component status, which the health_check extension's
// readiness endpoint reads: not ready while the files cannot be written, ready again after the
// first write that succeeds.
func (e *fileExporter) reportStatus(err error) {
	e.statusMu.Lock()
	defer e.statusMu.Unlock()
	switch {
	case err != nil:
		e.logger.Error("write failed; the sender is told and retries", zap.String("file", e.cfg.Path), zap.Error(err))
		componentstatus.ReportStatus(e.host, componentstatus.NewRecoverableErrorEvent(err))
		e.failing = true
	case e.failing:
		e.logger.Info("writes succeed again", zap.String("file", e.cfg.Path))
		componentstatus.ReportStatus(e.host, componentstatus.NewEvent(componentstatus.StatusOK))
		e.failing = false
	}
}
