package cmd

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/trace-forensics/trace-forensics/analyze"
	"github.com/trace-forensics/trace-forensics/sources"
)

// sourceOptions are the flags shared by every command that reads traces.
type sourceOptions struct {
	args []string
	keep []string // attribute keys analysis needs kept
}

// load reads the sources named on the command line.
func (o *sourceOptions) load(ctx context.Context, io IO) (*sources.Dataset, error) {
	return sources.Load(ctx, o.args, sources.Options{Keep: o.keep, Stdin: io.In})
}

// filterOptions are the request and operation filters.
type filterOptions struct {
	services      []string
	operation     string
	rootServices  []string
	rootOperation string
	since, until  string
	minDuration   time.Duration
}

func (f *filterOptions) bind(c *cobra.Command) {
	fl := c.Flags()
	fl.StringArrayVar(&f.services, "service", nil, "report operations of this service only (repeatable)")
	fl.StringVar(&f.operation, "operation", "", "report operations whose span name matches this regexp")
	fl.StringArrayVar(&f.rootServices, "root-service", nil, "count requests whose root span is in this service (repeatable)")
	fl.StringVar(&f.rootOperation, "root-operation", "", "count requests whose root span name matches this regexp")
	fl.StringVar(&f.since, "since", "", "count requests that started at or after this time: RFC 3339 or relative (2h, 30m, 1d)")
	fl.StringVar(&f.until, "until", "", "count requests that started before this time: RFC 3339 or relative")
	fl.DurationVar(&f.minDuration, "min-duration", 0, "count requests whose end-to-end latency is at least this (e.g. 500ms)")
}

func (f *filterOptions) filter(now time.Time) (analyze.Filter, error) {
	out := analyze.Filter{Services: f.services, RootServices: f.rootServices, MinDuration: f.minDuration}
	var err error
	if f.operation != "" {
		if out.Operation, err = regexp.Compile(f.operation); err != nil {
			return out, usagef("--operation: %v", err)
		}
	}
	if f.rootOperation != "" {
		if out.RootOperation, err = regexp.Compile(f.rootOperation); err != nil {
			return out, usagef("--root-operation: %v", err)
		}
	}
	if out.Since, err = parseTime(f.since, now); err != nil {
		return out, usagef("--since: %v", err)
	}
	if out.Until, err = parseTime(f.until, now); err != nil {
		return out, usagef("--until: %v", err)
	}
	if f.minDuration < 0 {
		return out, usagef("--min-duration: must not be negative")
	}
	if !out.Since.IsZero() && !out.Until.IsZero() && !out.Since.Before(out.Until) {
		return out, usagef("--since must be before --until")
	}
	return out, nil
}

// parseTime accepts RFC 3339 or a duration before now ("2h", "90m", "1d").
func parseTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := parseRelative(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2026-11-26T14:00:00Z) nor a duration (2h, 30m, 1d)", s)
	}
	return now.Add(-d), nil
}

// parseRelative is time.ParseDuration plus a "d" (24h) unit.
func parseRelative(s string) (time.Duration, error) {
	if strings.HasSuffix(s, "d") {
		n, err := strconv.ParseFloat(strings.TrimSuffix(s, "d"), 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("bad duration")
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("bad duration")
	}
	return d, nil
}

// parsePercentiles reads "50,95,99.9".
func parsePercentiles(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(f), "p"))
		if f == "" {
			continue
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || !(v > 0 && v <= 100) {
			return nil, fmt.Errorf("%q is not a percentile in (0, 100]", f)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no percentiles given")
	}
	return out, nil
}
