package rotatingfileexporter

import (
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// encoding turns one signal's data into OTLP-JSON lines (one Export<Signal>ServiceRequest each).
type encoding[T any] struct {
	count   func(T) int             // records (log records, spans, metrics) in the data
	slice   func(T, int, int) T     // records [from, to) with their resource and scope
	marshal func(T) ([]byte, error) // pdata's JSON marshaler
}

// lines encodes data as one line, or, when that line is longer than maxLine bytes, as several
// lines split at record boundaries: the records are halved until each part is at most a quarter of
// maxLine, so the files the parts are spread over are filled to at least three quarters. A single
// record longer than that stays one line (a record longer than maxLine gets a file of its own).
func (e encoding[T]) lines(data T, maxLine int64) ([][]byte, error) {
	b, err := e.marshal(data)
	if err != nil {
		return nil, err
	}
	n := e.count(data)
	if int64(len(b))+1 <= maxLine || n <= 1 {
		return [][]byte{append(b, '\n')}, nil
	}
	var out [][]byte
	partMax := max(maxLine/4, 1)
	var split func(part T, n int, b []byte) error
	split = func(part T, n int, b []byte) error {
		if int64(len(b))+1 <= partMax || n <= 1 {
			out = append(out, append(b, '\n'))
			return nil
		}
		for _, r := range [][2]int{{0, n / 2}, {n / 2, n}} {
			half := e.slice(part, r[0], r[1])
			hb, err := e.marshal(half)
			if err != nil {
				return err
			}
			if err := split(half, r[1]-r[0], hb); err != nil {
				return err
			}
		}
		return nil
	}
	return out, split(data, n, b)
}

var logsEncoding = encoding[plog.Logs]{
	count: func(ld plog.Logs) int { return ld.LogRecordCount() },
	slice: func(ld plog.Logs, from, to int) plog.Logs {
		out := plog.NewLogs()
		i := 0
		for _, rl := range ld.ResourceLogs().All() {
			var outRL plog.ResourceLogs
			for _, sl := range rl.ScopeLogs().All() {
				var outSL plog.ScopeLogs
				for _, lr := range sl.LogRecords().All() {
					if i >= from && i < to {
						if outRL == (plog.ResourceLogs{}) {
							outRL = out.ResourceLogs().AppendEmpty()
							rl.Resource().CopyTo(outRL.Resource())
							outRL.SetSchemaUrl(rl.SchemaUrl())
						}
						if outSL == (plog.ScopeLogs{}) {
							outSL = outRL.ScopeLogs().AppendEmpty()
							sl.Scope().CopyTo(outSL.Scope())
							outSL.SetSchemaUrl(sl.SchemaUrl())
						}
						lr.CopyTo(outSL.LogRecords().AppendEmpty())
					}
					i++
				}
			}
		}
		return out
	},
	marshal: (&plog.JSONMarshaler{}).MarshalLogs,
}

var tracesEncoding = encoding[ptrace.Traces]{
	count: func(td ptrace.Traces) int { return td.SpanCount() },
	slice: func(td ptrace.Traces, from, to int) ptrace.Traces {
		out := ptrace.NewTraces()
		i := 0
		for _, rs := range td.ResourceSpans().All() {
			var outRS ptrace.ResourceSpans
			for _, ss := range rs.ScopeSpans().All() {
				var outSS ptrace.ScopeSpans
				for _, span := range ss.Spans().All() {
					if i >= from && i < to {
						if outRS == (ptrace.ResourceSpans{}) {
							outRS = out.ResourceSpans().AppendEmpty()
							rs.Resource().CopyTo(outRS.Resource())
							outRS.SetSchemaUrl(rs.SchemaUrl())
						}
						if outSS == (ptrace.ScopeSpans{}) {
							outSS = outRS.ScopeSpans().AppendEmpty()
							ss.Scope().CopyTo(outSS.Scope())
							outSS.SetSchemaUrl(ss.SchemaUrl())
						}
						span.CopyTo(outSS.Spans().AppendEmpty())
					}
					i++
				}
			}
		}
		return out
	},
	marshal: (&ptrace.JSONMarshaler{}).MarshalTraces,
}

// Metrics split at whole metrics (all data points of one metric stay together).
var metricsEncoding = encoding[pmetric.Metrics]{
	count: func(md pmetric.Metrics) int {
		n := 0
		for _, rm := range md.ResourceMetrics().All() {
			for _, sm := range rm.ScopeMetrics().All() {
				n += sm.Metrics().Len()
			}
		}
		return n
	},
	slice: func(md pmetric.Metrics, from, to int) pmetric.Metrics {
		out := pmetric.NewMetrics()
		i := 0
		for _, rm := range md.ResourceMetrics().All() {
			var outRM pmetric.ResourceMetrics
			for _, sm := range rm.ScopeMetrics().All() {
				var outSM pmetric.ScopeMetrics
				for _, m := range sm.Metrics().All() {
					if i >= from && i < to {
						if outRM == (pmetric.ResourceMetrics{}) {
							outRM = out.ResourceMetrics().AppendEmpty()
							rm.Resource().CopyTo(outRM.Resource())
							outRM.SetSchemaUrl(rm.SchemaUrl())
						}
						if outSM == (pmetric.ScopeMetrics{}) {
							outSM = outRM.ScopeMetrics().AppendEmpty()
							sm.Scope().CopyTo(outSM.Scope())
							outSM.SetSchemaUrl(sm.SchemaUrl())
						}
						m.CopyTo(outSM.Metrics().AppendEmpty())
					}
					i++
				}
			}
		}
		return out
	},
	marshal: (&pmetric.JSONMarshaler{}).MarshalMetrics,
}
