package rotatingfileexporter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"
)

const (
	filePerm = 0o644
	dirPerm  = 0o755
)

var errClosed = errors.New("rotating file is closed")

// fileOptions is a Config in the units the writer works in.
type fileOptions struct {
	path     string
	maxBytes int64
	interval time.Duration // 0: no time-based rotation
	gzip     bool
	maxFiles int
	maxAge   time.Duration // 0: no pruning by age
	fsync    bool
	now      func() time.Time
	logger   *zap.Logger
}

func newFileOptions(cfg *Config, logger *zap.Logger) fileOptions {
	return fileOptions{
		path:     cfg.Path,
		maxBytes: int64(cfg.MaxMegabytes) << 20,
		interval: cfg.RotationInterval,
		gzip:     cfg.Compression == CompressionGzip,
		maxFiles: cfg.MaxFiles,
		maxAge:   time.Duration(cfg.MaxDays) * 24 * time.Hour,
		fsync:    cfg.Fsync,
		now:      time.Now,
		logger:   logger,
	}
}

// rotatingFile appends whole lines to one file and rotates it by size and by time. A write returns
// only after the lines are in the file (and fsynced, with fsync), or with an error and the file
// as it was before the write's own lines in it.
type rotatingFile struct {
	opts    fileOptions
	names   backupNames
	backups *backupWorker

	mu           sync.Mutex
	file         *os.File // nil after a failed (re)open: the next write opens it again
	size         int64
	nextRotation time.Time // zero without time-based rotation
	lastStamp    time.Time // rotation stamps only grow, so backup names sort in order
	timer        *time.Timer
	closed       bool
}

func openRotatingFile(opts fileOptions) (*rotatingFile, error) {
	if err := os.MkdirAll(filepath.Dir(opts.path), dirPerm); err != nil {
		return nil, err
	}
	names := newBackupNames(opts.path)
	rec, err := recoverFiles(opts.path, names, opts.gzip)
	if err != nil {
		return nil, fmt.Errorf("recovering %s: %w", opts.path, err)
	}
	if rec.tornBytes > 0 {
		opts.logger.Warn("cut a torn last line left by a crash (its sender was not acknowledged and retries it)",
			zap.String("file", opts.path), zap.Int64("bytes", rec.tornBytes))
	}
	w := &rotatingFile{opts: opts, names: names}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.openLocked(); err != nil {
		return nil, err
	}
	w.backups = startBackupWorker(names, opts, rec.pending)
	if opts.interval > 0 {
		w.timer = time.AfterFunc(w.untilRotationLocked(), w.onTimer)
	}
	return w, nil
}

// write appends the lines (each ends with '\n') in order, rotating between them as needed.
func (w *rotatingFile) write(lines [][]byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errClosed
	}
	if w.file == nil {
		if err := w.openLocked(); err != nil {
			return err
		}
	}
	if w.rotationDueLocked() {
		if err := w.rotateLocked(); err != nil {
			return err
		}
	}
	// On an error, this write's lines still in the current file are cut again, so a retry by the
	// sender does not duplicate them (lines already rotated into a backup stay).
	undoTo := w.size
	for _, line := range lines {
		if w.size > 0 && w.size+int64(len(line)) > w.opts.maxBytes {
			if err := w.rotateLocked(); err != nil {
				return err
			}
			undoTo = 0
		}
		n, err := w.file.Write(line)
		w.size += int64(n)
		if err != nil {
			w.undoLocked(undoTo)
			return fmt.Errorf("writing %s: %w", w.opts.path, err)
		}
	}
	if w.opts.fsync {
		if err := w.file.Sync(); err != nil {
			w.undoLocked(undoTo)
			return fmt.Errorf("fsync %s: %w", w.opts.path, err)
		}
	}
	return nil
}

// undoLocked truncates the current file back to size. When even that fails the file is closed:
// the next open cuts whatever torn tail is left.
func (w *rotatingFile) undoLocked(size int64) {
	if err := w.file.Truncate(size); err != nil {
		w.opts.logger.Error("could not cut a failed write; reopening the file", zap.String("file", w.opts.path), zap.Error(err))
		w.file.Close()
		w.file = nil
		return
	}
	w.size = size
}

// openLocked opens (or creates) the current file for appending, cutting a torn tail first.
func (w *rotatingFile) openLocked() error {
	if _, err := cutTornTail(w.opts.path); err != nil {
		return fmt.Errorf("opening %s: %w", w.opts.path, err)
	}
	f, err := os.OpenFile(w.opts.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, filePerm)
	if err != nil {
		return fmt.Errorf("opening %s: %w", w.opts.path, err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("opening %s: %w", w.opts.path, err)
	}
	w.file, w.size = f, info.Size()
	if w.opts.interval > 0 {
		// A file kept from before a restart rotates at the boundary after its last write.
		since := w.opts.now()
		if w.size > 0 {
			since = info.ModTime()
		}
		w.nextRotation = nextBoundary(since, w.opts.interval)
	}
	return nil
}

func (w *rotatingFile) rotationDueLocked() bool {
	return w.opts.interval > 0 && w.size > 0 && !w.opts.now().Before(w.nextRotation)
}

// rotateLocked renames the current file to a plain backup, opens a new one and hands the backup
// to the worker. An empty file is not rotated.
func (w *rotatingFile) rotateLocked() error {
	if w.size == 0 {
		if w.opts.interval > 0 {
			w.nextRotation = nextBoundary(w.opts.now(), w.opts.interval)
		}
		return nil
	}
	// No fsync here (writers wait while this runs): the backup's durability is the current file's,
	// and the .gz made from it is fsynced before the plain file is deleted.
	if err := w.file.Close(); err != nil {
		w.file = nil
		return fmt.Errorf("rotating %s: %w", w.opts.path, err)
	}
	w.file = nil
	backup := w.names.plain(w.nextStampLocked())
	if err := os.Rename(w.opts.path, backup); err != nil {
		return fmt.Errorf("rotating %s: %w", w.opts.path, err)
	}
	if w.opts.fsync {
		if err := syncDir(w.names.dir); err != nil {
			w.opts.logger.Warn("fsync of the directory after a rotation failed", zap.String("dir", w.names.dir), zap.Error(err))
		}
	}
	w.backups.rotated(backup)
	return w.openLocked()
}

// nextStampLocked is the rotation time for the next backup's name: now, but always later than the
// last one and than any backup already on disk.
func (w *rotatingFile) nextStampLocked() time.Time {
	t := w.opts.now().Truncate(time.Microsecond)
	if !t.After(w.lastStamp) {
		t = w.lastStamp.Add(time.Microsecond)
	}
	for w.names.taken(t) {
		t = t.Add(time.Microsecond)
	}
	w.lastStamp = t
	return t
}

func (w *rotatingFile) untilRotationLocked() time.Duration {
	return max(w.nextRotation.Sub(w.opts.now()), time.Millisecond)
}

// onTimer rotates a file nobody writes to at its boundary, so a day's file is closed that night.
func (w *rotatingFile) onTimer() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	if w.file != nil && !w.opts.now().Before(w.nextRotation) {
		if err := w.rotateLocked(); err != nil {
			w.opts.logger.Error("time-based rotation failed; the next write retries it", zap.String("file", w.opts.path), zap.Error(err))
		}
	}
	w.timer.Reset(w.untilRotationLocked())
}

// close stops writes, syncs and closes the file, and waits (until ctx ends) for the backups being compressed.
func (w *rotatingFile) close(ctx context.Context) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	if w.timer != nil {
		w.timer.Stop()
	}
	var errs []error
	if w.file != nil {
		errs = append(errs, w.file.Sync(), w.file.Close())
		w.file = nil
	}
	w.mu.Unlock()
	errs = append(errs, w.backups.close(ctx))
	return errors.Join(errs...)
}

// nextBoundary is the first rotation time after t: local midnight plus a whole number of intervals
// (Config.Validate makes an interval divide a day or be whole days).
func nextBoundary(t time.Time, every time.Duration) time.Time {
	y, m, d := t.Date()
	midnight := time.Date(y, m, d, 0, 0, 0, 0, t.Location())
	const day = 24 * time.Hour
	if every%day == 0 {
		return midnight.AddDate(0, 0, int(every/day))
	}
	b := midnight.Add(every)
	for !b.After(t) {
		b = b.Add(every)
	}
	return b
}
