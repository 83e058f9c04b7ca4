package rotatingfileexporter

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
)

// testClock is a settable clock for time-based rotation and pruning.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func testOptions(dir string) fileOptions {
	return fileOptions{
		path:     filepath.Join(dir, "logs.jsonl"),
		maxBytes: 4096,
		gzip:     true,
		now:      time.Now,
		logger:   zap.NewNop(),
	}
}

func mustOpen(t *testing.T, opts fileOptions) *rotatingFile {
	t.Helper()
	w, err := openRotatingFile(opts)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func mustClose(t *testing.T, w *rotatingFile) {
	t.Helper()
	if err := w.close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// onDisk is every file of one rotating file after it was closed.
type onDisk struct {
	files []diskFile // backups oldest first, then the current file
	lines []string   // every line of every file, in file order
}

type diskFile struct {
	name  string
	size  int64 // uncompressed
	lines int
}

// readBackupsAndCurrent reads the current file and its backups, decompressing .gz. It fails on a
// leftover .tmp, on a plain backup that also exists as .gz, and on a line without its newline.
func readBackupsAndCurrent(t *testing.T, path string) onDisk {
	t.Helper()
	names := newBackupNames(path)
	backups, err := names.list()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var d onDisk
	read := func(p string, gz bool) {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var r io.Reader = f
		if gz {
			zr, err := gzip.NewReader(f)
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			r = zr
		}
		data, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if len(data) > 0 && data[len(data)-1] != '\n' {
			t.Fatalf("%s ends in a torn line", p)
		}
		lines := strings.Split(string(data), "\n")
		lines = lines[:len(lines)-1]
		d.files = append(d.files, diskFile{name: filepath.Base(p), size: int64(len(data)), lines: len(lines)})
		d.lines = append(d.lines, lines...)
	}
	for _, b := range backups {
		stamp := strings.TrimSuffix(strings.TrimSuffix(b.path, tmpSuffix), gzSuffix)
		switch b.kind {
		case gzPartial:
			t.Fatalf("leftover %s", b.path)
		case gzBackup:
			read(b.path, true)
		case plainBackup:
			read(b.path, false)
		}
		if seen[stamp] {
			t.Fatalf("%s is there both plain and gzipped", stamp)
		}
		seen[stamp] = true
	}
	if _, err := os.Stat(path); err == nil {
		read(path, false)
	}
	return d
}

func line(id string, size int) []byte {
	b := []byte(id + " ")
	b = append(b, bytes.Repeat([]byte("x"), max(size-len(b)-1, 0))...)
	return append(b, '\n')
}

// Concurrent writers across many rotations: every line lands exactly once, whole, in order per
// writer; no file grows past the limit unless it holds one line alone; every backup is compressed
// (or, without compression, plain).
func TestConcurrentWritesAcrossRotations(t *testing.T) {
	for _, gz := range []bool{true, false} {
		t.Run(fmt.Sprintf("gzip=%v", gz), func(t *testing.T) {
			opts := testOptions(t.TempDir())
			opts.gzip = gz
			w := mustOpen(t, opts)
			const writers, writes = 8, 150
			var wg sync.WaitGroup
			for g := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range writes {
						size := 50 + (g*131+i*57)%1500
						if i%37 == 0 {
							size = 3 * int(opts.maxBytes) // larger than a file: gets one of its own
						}
						lines := [][]byte{line(fmt.Sprintf("w%d-%04d-a", g, i), size)}
						if i%3 == 0 {
							lines = append(lines, line(fmt.Sprintf("w%d-%04d-b", g, i), 300))
						}
						if err := w.write(lines); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			mustClose(t, w)

			d := readBackupsAndCurrent(t, opts.path)
			count := map[string]int{}
			last := map[string]string{}
			for _, l := range d.lines {
				id := strings.Fields(l)[0]
				count[id]++
				writer := strings.SplitN(id, "-", 2)[0]
				if id <= last[writer] {
					t.Fatalf("%s after %s: a writer's lines are out of order", id, last[writer])
				}
				last[writer] = id
			}
			want := 0
			for g := range writers {
				for i := range writes {
					want++
					if i%3 == 0 {
						want++
					}
					if c := count[fmt.Sprintf("w%d-%04d-a", g, i)]; c != 1 {
						t.Fatalf("line w%d-%04d-a found %d times", g, i, c)
					}
				}
			}
			if len(d.lines) != want {
				t.Fatalf("%d lines on disk, wrote %d", len(d.lines), want)
			}
			if len(d.files) < 20 {
				t.Fatalf("only %d files: rotation did not happen", len(d.files))
			}
			for _, f := range d.files {
				if f.size > opts.maxBytes && f.lines != 1 {
					t.Errorf("%s: %d bytes in %d lines exceeds %d", f.name, f.size, f.lines, opts.maxBytes)
				}
				isCurrent := f.name == "logs.jsonl"
				if !isCurrent && strings.HasSuffix(f.name, ".gz") != gz {
					t.Errorf("%s: backup compression is not %v", f.name, gz)
				}
			}
		})
	}
}

func TestRotationByTime(t *testing.T) {
	loc := time.Local
	clock := &testClock{t: time.Date(2026, 11, 29, 23, 58, 0, 0, loc)}
	opts := testOptions(t.TempDir())
	opts.maxBytes = 1 << 20
	opts.interval = 24 * time.Hour
	opts.now = clock.now
	w := mustOpen(t, opts)

	steps := []struct {
		at      time.Time
		write   string // "" : the timer fires instead of a write
		backups int
	}{
		{at: time.Date(2026, 11, 29, 23, 59, 0, 0, loc), write: "day1-a", backups: 0},
		{at: time.Date(2026, 11, 29, 23, 59, 59, 0, loc), write: "day1-b", backups: 0},
		{at: time.Date(2026, 11, 30, 0, 0, 1, 0, loc), write: "day2-a", backups: 1}, // first write after midnight rotates
		{at: time.Date(2026, 12, 1, 0, 0, 0, 0, loc), write: "", backups: 2},        // an idle file rotates on the timer
		{at: time.Date(2026, 12, 1, 0, 0, 5, 0, loc), write: "", backups: 2},        // an empty file is not rotated
		{at: time.Date(2026, 12, 1, 9, 0, 0, 0, loc), write: "day3-a", backups: 2},
	}
	for i, s := range steps {
		clock.set(s.at)
		if s.write != "" {
			if err := w.write([][]byte{line(s.write, 40)}); err != nil {
				t.Fatal(err)
			}
		} else {
			w.onTimer()
		}
		backups, _ := w.names.list()
		stamps := map[time.Time]bool{} // a backup being compressed is there twice for a moment
		for _, b := range backups {
			stamps[b.rotated] = true
		}
		if len(stamps) != s.backups {
			t.Fatalf("step %d (%s): %d backups, want %d", i, s.at, len(stamps), s.backups)
		}
	}
	mustClose(t, w)
	d := readBackupsAndCurrent(t, opts.path)
	got := []string{}
	for _, f := range d.files {
		got = append(got, fmt.Sprintf("%s:%d", f.name, f.lines))
	}
	want := []string{"logs-2026-11-30T00-00-01.000000.jsonl.gz:2", "logs-2026-12-01T00-00-00.000000.jsonl.gz:1", "logs.jsonl:1"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("files %v, want %v", got, want)
	}
}

// What a SIGKILL can leave behind is repaired at the next start.
func TestCrashRecovery(t *testing.T) {
	stamp := func(s string) time.Time {
		tm, err := time.ParseInLocation(stampLayout, s, time.Local)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	gzBytes := func(s string) []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write([]byte(s))
		zw.Close()
		return b.Bytes()
	}
	tests := []struct {
		name      string
		current   string            // content of logs.jsonl before the start
		others    map[string][]byte // other files before the start
		wantLines []string          // every line after start, one write of "new" and a clean close
		wantFiles []string
	}{
		{
			name:      "torn last line is cut",
			current:   "a\nb\n{\"resourceLogs\":[{\"reso",
			wantLines: []string{"a", "b", "new"},
			wantFiles: []string{"logs.jsonl"},
		},
		{
			name:      "a torn first line leaves an empty file",
			current:   "{\"resourceLo",
			wantLines: []string{"new"},
			wantFiles: []string{"logs.jsonl"},
		},
		{
			name:      "a whole file is left alone",
			current:   "a\nb\n",
			wantLines: []string{"a", "b", "new"},
			wantFiles: []string{"logs.jsonl"},
		},
		{
			name: "gz renamed but plain not yet removed: plain removed",
			others: map[string][]byte{
				"logs-2026-11-28T10-00-00.000000.jsonl":    []byte("old\n"),
				"logs-2026-11-28T10-00-00.000000.jsonl.gz": gzBytes("old\n"),
			},
			wantLines: []string{"old", "new"},
			wantFiles: []string{"logs-2026-11-28T10-00-00.000000.jsonl.gz", "logs.jsonl"},
		},
		{
			name: "unfinished compression: tmp removed, plain compressed again",
			others: map[string][]byte{
				"logs-2026-11-28T10-00-00.000000.jsonl":        []byte("old\n"),
				"logs-2026-11-28T10-00-00.000000.jsonl.gz.tmp": gzBytes("ol")[:10],
			},
			wantLines: []string{"old", "new"},
			wantFiles: []string{"logs-2026-11-28T10-00-00.000000.jsonl.gz", "logs.jsonl"},
		},
		{
			name: "files of other names are not touched",
			others: map[string][]byte{
				"traces.jsonl":     []byte("{}"),
				"logs-notes.jsonl": []byte("x"),
			},
			wantLines: []string{"new"},
			wantFiles: []string{"logs.jsonl"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := testOptions(dir)
			opts.now = (&testClock{t: stamp("2026-11-29T10-00-00.000000")}).now
			if tt.current != "" {
				os.WriteFile(opts.path, []byte(tt.current), filePerm)
			}
			for name, data := range tt.others {
				os.WriteFile(filepath.Join(dir, name), data, filePerm)
			}
			w := mustOpen(t, opts)
			if err := w.write([][]byte{[]byte("new\n")}); err != nil {
				t.Fatal(err)
			}
			mustClose(t, w)
			d := readBackupsAndCurrent(t, opts.path)
			if strings.Join(d.lines, ",") != strings.Join(tt.wantLines, ",") {
				t.Fatalf("lines %q, want %q", d.lines, tt.wantLines)
			}
			var names []string
			for _, f := range d.files {
				names = append(names, f.name)
			}
			if strings.Join(names, ",") != strings.Join(tt.wantFiles, ",") {
				t.Fatalf("files %q, want %q", names, tt.wantFiles)
			}
			for name := range tt.others {
				if !strings.HasPrefix(name, "logs-2") {
					if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
						t.Fatalf("%s was touched: %v", name, err)
					}
				}
			}
		})
	}
}

func TestPruning(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.Local)
	tests := []struct {
		name     string
		maxFiles int
		maxAge   time.Duration
		existing []time.Time // backups on disk before the start
		writes   int         // lines of 80 bytes with maxBytes 100: every write after the first rotates
		want     int         // backups left
		oldest   time.Time   // rotation time of the oldest backup left (zero: do not check)
	}{
		{name: "by count", maxFiles: 3, writes: 10, want: 3},
		{name: "unlimited", writes: 10, want: 9},
		{name: "by age", maxAge: 7 * 24 * time.Hour,
			existing: []time.Time{now.AddDate(0, 0, -10), now.AddDate(0, 0, -8), now.AddDate(0, 0, -6), now.AddDate(0, 0, -1)},
			writes:   1, want: 2, oldest: now.AddDate(0, 0, -6)},
		{name: "by count and age", maxFiles: 2, maxAge: 7 * 24 * time.Hour,
			existing: []time.Time{now.AddDate(0, 0, -10), now.AddDate(0, 0, -6)},
			writes:   3, want: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := testOptions(dir)
			opts.maxBytes, opts.maxFiles, opts.maxAge = 100, tt.maxFiles, tt.maxAge
			clock := &testClock{t: now}
			opts.now = clock.now
			names := newBackupNames(opts.path)
			for _, ts := range tt.existing {
				os.WriteFile(names.plain(ts), []byte("old\n"), filePerm)
			}
			w := mustOpen(t, opts)
			for i := range tt.writes {
				clock.set(now.Add(time.Duration(i) * time.Second))
				if err := w.write([][]byte{line(fmt.Sprintf("l%02d", i), 80)}); err != nil {
					t.Fatal(err)
				}
			}
			mustClose(t, w)
			backups, _ := names.list()
			if len(backups) != tt.want {
				t.Fatalf("%d backups left, want %d: %v", len(backups), tt.want, backups)
			}
			if !tt.oldest.IsZero() && !backups[0].rotated.Equal(tt.oldest.Truncate(time.Microsecond)) {
				t.Fatalf("oldest backup left is %s, want %s", backups[0].rotated, tt.oldest)
			}
			// The newest lines are always kept: the pruned ones are the oldest.
			d := readBackupsAndCurrent(t, opts.path)
			if last := d.lines[len(d.lines)-1]; !strings.HasPrefix(last, fmt.Sprintf("l%02d", tt.writes-1)) {
				t.Fatalf("last line %q", last)
			}
		})
	}
}

// A write that fails (here: the disk is full) returns its error, leaves no part of itself in
// the file, and the file works again once the disk does.
func TestWriteErrorIsReturned(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Fatalf("this test needs /dev/full (Linux) to simulate a full disk: %v", err)
	}
	dir := t.TempDir()
	opts := testOptions(dir)
	w := mustOpen(t, opts)
	if err := w.write([][]byte{[]byte("before\n")}); err != nil {
		t.Fatal(err)
	}
	// The disk fills up: the current file is now /dev/full (ENOSPC on every write).
	w.mu.Lock()
	w.file.Close()
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		w.mu.Unlock()
		t.Fatal(err)
	}
	w.file = full
	w.mu.Unlock()

	err = w.write([][]byte{[]byte("lost?\n")})
	if err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("want ENOSPC from the write, got %v", err)
	}
	// Space again: the next write reopens the real file.
	if err := w.write([][]byte{[]byte("after\n")}); err != nil {
		t.Fatal(err)
	}
	mustClose(t, w)
	d := readBackupsAndCurrent(t, opts.path)
	if strings.Join(d.lines, ",") != "before,after" {
		t.Fatalf("lines %q", d.lines)
	}
}

// A failed write is cut from the file again (no half line, no duplicate on the sender's retry).
func TestFailedWriteIsUndone(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions(dir)
	w := mustOpen(t, opts)
	if err := w.write([][]byte{[]byte("a\n")}); err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	w.file.Write([]byte("half of a li")) // as if a write had stopped in the middle
	w.size += int64(len("half of a li"))
	w.undoLocked(2)
	w.mu.Unlock()
	if err := w.write([][]byte{[]byte("b\n")}); err != nil {
		t.Fatal(err)
	}
	mustClose(t, w)
	if d := readBackupsAndCurrent(t, opts.path); strings.Join(d.lines, ",") != "a,b" {
		t.Fatalf("lines %q", d.lines)
	}
}

func TestWriteAfterCloseFails(t *testing.T) {
	w := mustOpen(t, testOptions(t.TempDir()))
	mustClose(t, w)
	if err := w.write([][]byte{[]byte("x\n")}); err != errClosed {
		t.Fatalf("got %v, want errClosed", err)
	}
}

// Close waits for the backups still being compressed; a close whose deadline passes leaves them
// plain (never both plain and .gz), and the next start compresses them.
func TestCloseDeadlineLeavesNoDuplicates(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions(dir)
	opts.maxBytes = 1 << 20
	w := mustOpen(t, opts)
	big := line("big", 1<<20-10)
	for i := range 6 {
		if err := w.write([][]byte{big, line(fmt.Sprint(i), 10)}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no time at all
	_ = w.close(ctx)
	readBackupsAndCurrent(t, opts.path) // no .tmp, no plain+gz pair

	w = mustOpen(t, opts)
	mustClose(t, w)
	backups, _ := w.names.list()
	for _, b := range backups {
		if b.kind != gzBackup {
			t.Fatalf("%s left uncompressed after a clean start and close", b.path)
		}
	}
	if d := readBackupsAndCurrent(t, opts.path); len(d.lines) != 12 {
		t.Fatalf("%d lines, want 12", len(d.lines))
	}
}

// With fsync on, every write is fsynced before it returns, and rotations sync the directory.
func TestFsyncWritesAcrossRotations(t *testing.T) {
	opts := testOptions(t.TempDir())
	opts.fsync, opts.maxBytes = true, 200
	w := mustOpen(t, opts)
	for i := range 20 {
		if err := w.write([][]byte{line(fmt.Sprintf("l%02d", i), 90)}); err != nil {
			t.Fatal(err)
		}
	}
	mustClose(t, w)
	d := readBackupsAndCurrent(t, opts.path)
	if len(d.lines) != 20 || len(d.files) != 10 {
		t.Fatalf("%d lines in %d files, want 20 in 10", len(d.lines), len(d.files))
	}
}
