package rotatingfileexporter

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// stampLayout is the rotation time in a backup's name: fixed width, so names sort in time order,
// and no colons, so the names are valid on every file system.
const stampLayout = "2006-01-02T15-04-05.000000"

const (
	gzSuffix  = ".gz"
	tmpSuffix = ".tmp"
)

type backupKind int

const (
	plainBackup backupKind = iota // <stem>-<stamp><ext>: rotated, not (yet) compressed
	gzBackup                      // <stem>-<stamp><ext>.gz: complete, fsynced, renamed into place
	gzPartial                     // <stem>-<stamp><ext>.gz.tmp: a compression that did not finish
)

// backupFile is one file beside the current one that belongs to it.
type backupFile struct {
	path    string
	rotated time.Time
	kind    backupKind
}

// backupNames knows how the backups of one current file are named: data/logs.jsonl has backups
// data/logs-<stamp>.jsonl and data/logs-<stamp>.jsonl.gz.
type backupNames struct {
	dir, stem, ext string
}

func newBackupNames(path string) backupNames {
	base := filepath.Base(path)
	ext := filepath.Ext(base)
	return backupNames{dir: filepath.Dir(path), stem: strings.TrimSuffix(base, ext), ext: ext}
}

// plain is the name of a plain backup rotated at t.
func (n backupNames) plain(t time.Time) string {
	return filepath.Join(n.dir, n.stem+"-"+t.Format(stampLayout)+n.ext)
}

// parse tells whether name (a base name) is one of the backups, and which.
func (n backupNames) parse(name string) (backupFile, bool) {
	rest, ok := strings.CutPrefix(name, n.stem+"-")
	if !ok {
		return backupFile{}, false
	}
	kind := plainBackup
	switch {
	case strings.HasSuffix(rest, n.ext+gzSuffix+tmpSuffix):
		kind, rest = gzPartial, strings.TrimSuffix(rest, n.ext+gzSuffix+tmpSuffix)
	case strings.HasSuffix(rest, n.ext+gzSuffix):
		kind, rest = gzBackup, strings.TrimSuffix(rest, n.ext+gzSuffix)
	case strings.HasSuffix(rest, n.ext):
		rest = strings.TrimSuffix(rest, n.ext)
	default:
		return backupFile{}, false
	}
	t, err := time.ParseInLocation(stampLayout, rest, time.Local)
	if err != nil {
		return backupFile{}, false
	}
	return backupFile{path: filepath.Join(n.dir, name), rotated: t, kind: kind}, true
}

// list returns the backups on disk, oldest first.
func (n backupNames) list() ([]backupFile, error) {
	entries, err := os.ReadDir(n.dir)
	if err != nil {
		return nil, err
	}
	var out []backupFile
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		if b, ok := n.parse(e.Name()); ok {
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].rotated.Equal(out[j].rotated) {
			return out[i].rotated.Before(out[j].rotated)
		}
		return out[i].path < out[j].path
	})
	return out, nil
}

// taken tells whether a backup rotated at t exists in any form.
func (n backupNames) taken(t time.Time) bool {
	p := n.plain(t)
	for _, name := range []string{p, p + gzSuffix, p + gzSuffix + tmpSuffix} {
		if _, err := os.Lstat(name); err == nil || !os.IsNotExist(err) {
			return true
		}
	}
	return false
}
