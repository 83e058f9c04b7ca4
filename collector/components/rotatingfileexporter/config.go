package rotatingfileexporter

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"
)

// Compression of rotated backups.
const (
	CompressionGzip = "gzip"
	CompressionNone = "none"
)

// Config of one rotating file. Defaults live in createDefaultConfig; Validate checks values only.
type Config struct {
	// Path of the file being written (e.g. data/logs.jsonl). Rotated backups go beside it as
	// <stem>-<timestamp><ext> and, compressed, <stem>-<timestamp><ext>.gz (logs-2026-11-29T23-05-12.123456.jsonl.gz).
	Path string `mapstructure:"path"`
	// MaxMegabytes: a file is rotated before a write would take it past this many MiB. A request
	// larger than that is split at record boundaries; a single record larger gets a file of its own.
	MaxMegabytes int `mapstructure:"max_megabytes"`
	// RotationInterval: a non-empty file is also rotated at every multiple of this interval counted
	// from local midnight (24h: daily at midnight). 0 turns time-based rotation off.
	RotationInterval time.Duration `mapstructure:"rotation_interval"`
	// Compression of rotated backups, done in the background: "gzip" or "none".
	Compression string `mapstructure:"compression"`
	// MaxFiles: rotated backups kept (the oldest go first). 0 keeps every backup.
	MaxFiles int `mapstructure:"max_files"`
	// MaxDays: backups whose rotation time is older than this many days are deleted. 0 keeps them.
	MaxDays int `mapstructure:"max_days"`
	// Fsync: also fsync the file before a write is acknowledged (survives a power loss, not only a
	// crash of the collector). Without it a write is acknowledged once the OS has it.
	Fsync bool `mapstructure:"fsync"`
}

// Validate reports every invalid field at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Path == "" {
		errs = append(errs, errors.New("path must be set"))
	} else if filepath.Base(c.Path) == "." || filepath.Base(c.Path) == string(filepath.Separator) {
		errs = append(errs, fmt.Errorf("path %q must name a file", c.Path))
	}
	if c.MaxMegabytes < 1 {
		errs = append(errs, fmt.Errorf("max_megabytes must be at least 1, got %d", c.MaxMegabytes))
	}
	if c.RotationInterval < 0 {
		errs = append(errs, fmt.Errorf("rotation_interval must not be negative, got %s", c.RotationInterval))
	} else if c.RotationInterval > 0 {
		day := 24 * time.Hour
		aligned := (c.RotationInterval < day && day%c.RotationInterval == 0) || c.RotationInterval%day == 0
		if c.RotationInterval < time.Minute || !aligned {
			errs = append(errs, fmt.Errorf("rotation_interval must be at least 1m and divide a day (1h, 6h, ...) or be whole days (24h, 48h), got %s", c.RotationInterval))
		}
	}
	if c.Compression != CompressionGzip && c.Compression != CompressionNone {
		errs = append(errs, fmt.Errorf("compression must be %q or %q, got %q", CompressionGzip, CompressionNone, c.Compression))
	}
	if c.MaxFiles < 0 {
		errs = append(errs, fmt.Errorf("max_files must not be negative, got %d", c.MaxFiles))
	}
	if c.MaxDays < 0 {
		errs = append(errs, fmt.Errorf("max_days must not be negative, got %d", c.MaxDays))
	}
	return errors.Join(errs...)
}
