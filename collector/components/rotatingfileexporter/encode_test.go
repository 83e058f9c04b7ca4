package rotatingfileexporter

import (
	"fmt"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// testLogs builds resources x scopes x records log records; the body of record (r, s, i) is its id,
// padded to bodySize(id) bytes.
func testLogs(resources, scopes, records int, bodySize func(id string) int) plog.Logs {
	ld := plog.NewLogs()
	for r := range resources {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%d", r))
		for s := range scopes {
			sl := rl.ScopeLogs().AppendEmpty()
			sl.Scope().SetName(fmt.Sprintf("scope-%d-%d", r, s))
			for i := range records {
				id := fmt.Sprintf("r%d-s%d-%03d", r, s, i)
				sl.LogRecords().AppendEmpty().Body().SetStr(id + " " + strings.Repeat("x", bodySize(id)))
			}
		}
	}
	return ld
}

// Oversize requests are split at record boundaries: each line is a whole request of at most the
// limit, every record is in exactly one line, in order, under its own resource and scope; a
// record larger than the limit is a line of its own.
func TestLogsLinesSplitAtRecords(t *testing.T) {
	small := func(string) int { return 200 }
	tests := []struct {
		name        string
		logs        plog.Logs
		maxLine     int64
		wantLines   int // 0: more than one
		oversizeIDs []string
	}{
		{name: "fits: one line", logs: testLogs(1, 1, 10, small), maxLine: 1 << 20, wantLines: 1},
		{name: "split across records", logs: testLogs(1, 1, 40, small), maxLine: 2000},
		{name: "split across resources and scopes", logs: testLogs(3, 2, 7, small), maxLine: 1500},
		{name: "one record over the limit", maxLine: 2000, oversizeIDs: []string{"r0-s0-004"},
			logs: testLogs(1, 2, 10, func(id string) int {
				if id == "r0-s0-004" {
					return 5000
				}
				return 100
			})},
		{name: "a single oversize record alone", logs: testLogs(1, 1, 1, func(string) int { return 9000 }), maxLine: 1000, wantLines: 1, oversizeIDs: []string{"r0-s0-000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines, err := logsEncoding.lines(tt.logs, tt.maxLine)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantLines > 0 && len(lines) != tt.wantLines {
				t.Fatalf("%d lines, want %d", len(lines), tt.wantLines)
			}
			if tt.wantLines == 0 && len(lines) < 2 {
				t.Fatalf("not split: %d line", len(lines))
			}
			var got []string
			for _, l := range lines {
				if l[len(l)-1] != '\n' || strings.Count(string(l), "\n") != 1 {
					t.Fatal("a line must end in its only newline")
				}
				ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(l)
				if err != nil {
					t.Fatal(err)
				}
				var ids []string
				for _, rl := range ld.ResourceLogs().All() {
					svc, _ := rl.Resource().Attributes().Get("service.name")
					for _, sl := range rl.ScopeLogs().All() {
						for _, lr := range sl.LogRecords().All() {
							id := strings.Fields(lr.Body().Str())[0]
							// each record is still under its own resource and scope
							if want := "svc-" + id[1:2]; svc.Str() != want || !strings.HasPrefix(sl.Scope().Name(), "scope-"+id[1:2]+"-"+id[4:5]) {
								t.Fatalf("record %s under %s / %s", id, svc.Str(), sl.Scope().Name())
							}
							ids = append(ids, id)
						}
					}
				}
				if int64(len(l)) > tt.maxLine && !(len(ids) == 1 && contains(tt.oversizeIDs, ids[0])) {
					t.Fatalf("line of %d bytes > %d with records %v", len(l), tt.maxLine, ids)
				}
				// parts of a split request are at most a quarter of a file (files end up >= 3/4 full)
				if len(lines) > 1 && len(ids) > 1 && int64(len(l)) > tt.maxLine/4 {
					t.Fatalf("part of %d bytes > %d with records %v", len(l), tt.maxLine/4, ids)
				}
				got = append(got, ids...)
			}
			var want []string
			for _, rl := range tt.logs.ResourceLogs().All() {
				for _, sl := range rl.ScopeLogs().All() {
					for _, lr := range sl.LogRecords().All() {
						want = append(want, strings.Fields(lr.Body().Str())[0])
					}
				}
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("records after the split differ:\n got %v\nwant %v", got, want)
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestTracesAndMetricsLinesSplit(t *testing.T) {
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	for i := range 50 {
		ss.Spans().AppendEmpty().SetName(fmt.Sprintf("span-%02d-%s", i, strings.Repeat("y", 100)))
	}
	md := pmetric.NewMetrics()
	sm := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
	for i := range 50 {
		m := sm.Metrics().AppendEmpty()
		m.SetName(fmt.Sprintf("metric-%02d-%s", i, strings.Repeat("z", 100)))
		m.SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(int64(i))
	}
	tests := []struct {
		name  string
		lines func() ([][]byte, error)
		count func([]byte) int
	}{
		{"traces", func() ([][]byte, error) { return tracesEncoding.lines(td, 1000) }, func(l []byte) int {
			d, _ := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(l)
			return d.SpanCount()
		}},
		{"metrics", func() ([][]byte, error) { return metricsEncoding.lines(md, 1000) }, func(l []byte) int {
			d, _ := (&pmetric.JSONUnmarshaler{}).UnmarshalMetrics(l)
			return d.MetricCount()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines, err := tt.lines()
			if err != nil {
				t.Fatal(err)
			}
			total := 0
			for _, l := range lines {
				if len(l) > 1000 {
					t.Fatalf("line of %d bytes", len(l))
				}
				total += tt.count(l)
			}
			if len(lines) < 5 || total != 50 {
				t.Fatalf("%d lines with %d records, want >= 5 lines with 50", len(lines), total)
			}
		})
	}
}
