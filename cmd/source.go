package cmd

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/trace-forensics/trace-forensics/live"

	"github.com/trace-forensics/trace-forensics/model"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/trace-forensics/trace-forensics/analyze"
	"github.com/trace-forensics/trace-forensics/redact"
	"github.com/trace-forensics/trace-forensics/sources"
)

// sourceOptions are the flags shared by every command that reads traces:
// files named as arguments, or a live pull from Jaeger (bound by bind).
type sourceOptions struct {
	args       []string
	keep       []string // attribute keys analysis needs kept
	live       liveOptions
	cmd        *cobra.Command // set by bind; its filter flags double as the query
	redactKeys []string       // --redact-key
	red        *redact.Redactor
}

// redactor returns the redactor for what the command prints; after load it
// knows the values of the --redact-key keys.
func (o *sourceOptions) redactor() *redact.Redactor {
	if o.red == nil {
		o.red = redact.New(redact.Options{Keys: o.redactKeys})
	}
	return o.red
}

// load reads the sources named on the command line, or pulls from Jaeger
// when --jaeger or --jaeger-grpc is given. A pull that finds nothing ends
// the command with exit code 0 and a "no traces matched" message.
func (o *sourceOptions) load(ctx context.Context, io IO) (*model.Dataset, error) {
	// The values of --redact-key keys are read only to be recognised.
	red := o.redactor()
	o.keep = append(o.keep, red.Keys()...)
	var ds *model.Dataset
	var err error
	if o.cmd == nil || !o.live.isLive() {
		if err := o.checkNotLive(); err != nil {
			return nil, err
		}
		ds, err = sources.Load(ctx, o.args, sources.Options{Keep: o.keep, Stdin: io.In})
	} else {
		ds, err = o.pull(ctx, io)
	}
	if err != nil {
		return nil, err
	}
	redact.LearnDataset(ds, red)
	return ds, nil
}

// filterOptions are the request and operation filters.
type filterOptions struct {
	services      []string
	operation     string
	rootServices  []string
	rootOperation string
	since, until  string
	start, end    string // aliases of since and until
	minDuration   time.Duration
}

// bind registers the filter flags. With --jaeger or --jaeger-grpc, --service,
// --operation (when it is a plain name), --since/--start, --until/--end and
// --min-duration also become the query sent to the server: a --service query
// and a --service filter mean the same thing.
func (f *filterOptions) bind(c *cobra.Command) {
	fl := c.Flags()
	fl.StringArrayVar(&f.services, "service", nil, "report operations of this service only (repeatable); with --jaeger, search this service")
	fl.StringVar(&f.operation, "operation", "", "report operations whose span name matches this regexp; with --jaeger, search this span name")
	fl.StringArrayVar(&f.rootServices, "root-service", nil, "count requests whose root span is in this service (repeatable)")
	fl.StringVar(&f.rootOperation, "root-operation", "", "count requests whose root span name matches this regexp")
	fl.StringVar(&f.since, "since", "", "count requests that started at or after this time: RFC 3339 or relative (2h, 30m, 1d); with --jaeger, search from then")
	fl.StringVar(&f.until, "until", "", "count requests that started before this time: RFC 3339 or relative; with --jaeger, search until then")
	fl.StringVar(&f.start, "start", "", "same as --since")
	fl.StringVar(&f.end, "end", "", "same as --until")
	fl.DurationVar(&f.minDuration, "min-duration", 0, "count requests whose end-to-end latency is at least this (e.g. 500ms); with --jaeger, search traces with a span this long")
}

func (f *filterOptions) filter(now time.Time) (analyze.Filter, error) {
	out := analyze.Filter{Services: f.services, RootServices: f.rootServices, MinDuration: f.minDuration}
	var err error
	since, until, err := f.window()
	if err != nil {
		return out, err
	}
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
	if out.Since, err = parseTime(since.value, now); err != nil {
		return out, usagef("%s: %v", since.flag, err)
	}
	if out.Until, err = parseTime(until.value, now); err != nil {
		return out, usagef("%s: %v", until.flag, err)
	}
	if f.minDuration < 0 {
		return out, usagef("--min-duration: must not be negative")
	}
	if !out.Since.IsZero() && !out.Until.IsZero() && !out.Since.Before(out.Until) {
		return out, usagef("%s must be before %s", since.flag, until.flag)
	}
	return out, nil
}

// flagValue is a flag's value with the name it was given under.
type flagValue struct{ flag, value string }

// window returns the start and end of the time window, from --since or its
// alias --start and --until or its alias --end.
func (f *filterOptions) window() (since, until flagValue, err error) {
	since = flagValue{"--since", f.since}
	until = flagValue{"--until", f.until}
	if f.start != "" {
		if f.since != "" {
			return since, until, usagef("--start and --since say the same thing: give one")
		}
		since = flagValue{"--start", f.start}
	}
	if f.end != "" {
		if f.until != "" {
			return since, until, usagef("--end and --until say the same thing: give one")
		}
		until = flagValue{"--end", f.end}
	}
	return since, until, nil
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

// liveOptions are the flags of a live pull.
type liveOptions struct {
	jaeger, jaegerGRPC string
	tempo              string // Tempo's query frontend URL
	traceQL, orgID     string // --query and --org-id, with --tempo
	tags               []string
	maxDuration        time.Duration
	limit              int
	traceIDs           []string
	traceIDsFrom       string
	save               string
	conn               connOptions
}

// connOptions are how to reach a server; `services` needs only these.
type connOptions struct {
	concurrency      int
	timeout          time.Duration
	maxResponseBytes byteSize
	caFile           string
	insecure         bool
}

func (o *liveOptions) isLive() bool { return o.jaeger != "" || o.jaegerGRPC != "" || o.tempo != "" }

// queryOnly are the flags that mean nothing without a live source.
var queryOnly = []string{"tag", "max-duration", "limit", "trace-id", "trace-ids-from", "save",
	"concurrency", "timeout", "max-response-bytes", "ca-file", "insecure-skip-verify", "query", "org-id"}

// envHelp documents the credential variables in --help.
var envHelp = fmt.Sprintf(`Credentials for --jaeger and --jaeger-grpc come from the environment, never
from flags: %s%s (a bearer token) or %s%s and
%s%s (basic auth). They are never printed.`,
	live.EnvJaegerPrefix, live.EnvSuffixToken,
	live.EnvJaegerPrefix, live.EnvSuffixUser,
	live.EnvJaegerPrefix, live.EnvSuffixPassword)

// tempoEnvHelp documents the credential variables of --tempo in --help.
var tempoEnvHelp = fmt.Sprintf(`For --tempo they are %s%s, or %s%s and
%s%s.`,
	live.EnvTempoPrefix, live.EnvSuffixToken,
	live.EnvTempoPrefix, live.EnvSuffixUser,
	live.EnvTempoPrefix, live.EnvSuffixPassword)

// bindConn registers the flags that say where the server is and how to talk to it.
func (o *liveOptions) bindConn(fl *pflag.FlagSet) {
	fl.StringVar(&o.jaeger, "jaeger", "", "pull traces from the Jaeger query service at this URL (e.g. http://localhost:16686); searches the last hour unless --since/--until say otherwise")
	fl.StringVar(&o.jaegerGRPC, "jaeger-grpc", "", "pull traces from Jaeger's query gRPC port at HOST:PORT (e.g. localhost:16685; grpcs:// for TLS)")
	fl.IntVar(&o.conn.concurrency, "concurrency", live.DefaultPullConcurrency, "requests in flight at once when pulling")
	fl.DurationVar(&o.conn.timeout, "timeout", live.DefaultPullTimeout, "give up on a request after this long")
	o.conn.maxResponseBytes = live.DefaultMaxResponseBytes
	fl.Var(&o.conn.maxResponseBytes, "max-response-bytes", "refuse answers larger than this (e.g. 64MiB, 1GiB)")
	fl.StringVar(&o.conn.caFile, "ca-file", "", "trust the certificate authorities in this PEM file")
	fl.BoolVar(&o.conn.insecure, "insecure-skip-verify", false, "do not check the server's TLS certificate (unsafe; for testing)")
}

// bind registers the live-pull flags on a command that reads traces, and
// lets it run without SOURCE arguments when one is given. The filter flags
// of the same command (--service, --operation, --since, --until,
// --min-duration) are read by name and become the query too, so they are
// never registered twice.
func (o *sourceOptions) bind(c *cobra.Command) {
	o.cmd = c
	fl := c.Flags()
	l := &o.live
	l.bindConn(fl)
	fl.StringArrayVar(&l.tags, "tag", nil, "with --jaeger: search traces with this tag, key=value (repeatable)")
	fl.DurationVar(&l.maxDuration, "max-duration", 0, "with --jaeger: search traces with no span longer than this")
	fl.IntVar(&l.limit, "limit", live.DefaultPullLimit, "with --jaeger: pull at most this many traces")
	fl.StringArrayVar(&l.traceIDs, "trace-id", nil, "with --jaeger: pull this trace (repeatable); no search is made")
	fl.StringVar(&l.traceIDsFrom, "trace-ids-from", "", "with --jaeger: pull the traces whose IDs are in this file (one per line, # comments)")
	fl.StringVar(&l.save, "save", "", "with --jaeger: also write what was pulled to this new directory; breakdown DIR reads it back")
	fl.StringVar(&l.tempo, "tempo", "", "pull traces from Grafana Tempo's query frontend at this URL (e.g. http://localhost:3200): a TraceQL search, then each trace; the other --jaeger flags apply too")
	fl.StringVar(&l.traceQL, "query", "", "with --tempo: the TraceQL search (default {} or one built from --service, --operation and --tag)")
	fl.StringVar(&l.orgID, "org-id", "", "with --tempo: the tenant, sent as X-Scope-OrgID")
	bindRedactKeys(c, &o.redactKeys)
	if !strings.Contains(c.Long, envHelp) {
		c.Long = strings.TrimRight(c.Long, "\n") + "\n\n" + envHelp
	}
	if !strings.Contains(c.Long, tempoEnvHelp) {
		c.Long += "\n" + tempoEnvHelp
	}
	prev := c.Args
	c.Args = func(cmd *cobra.Command, args []string) error {
		if o.live.isLive() {
			if len(args) > 0 {
				return usagef("give SOURCE files or --jaeger/--jaeger-grpc/--tempo, not both")
			}
			return nil
		}
		if prev != nil {
			return prev(cmd, args)
		}
		return nil
	}
}

// hasInput reports whether traces were named: SOURCE arguments or a live
// source. A command whose data is optional asks this.
func (o *sourceOptions) hasInput() bool { return len(o.args) > 0 || o.live.isLive() }

// checkNotLive refuses query flags when no live source is given.
func (o *sourceOptions) checkNotLive() error {
	if o.cmd == nil {
		return nil
	}
	for _, name := range append([]string{"max-duration"}, queryOnly...) {
		if f := o.cmd.Flags().Lookup(name); f != nil && f.Changed {
			return usagef("--%s needs --jaeger or --jaeger-grpc (or --tempo)", name)
		}
	}
	return nil
}

// sharedFilters reads the command's filter flags by name; a command
// without them gets the zero value.
func (o *sourceOptions) sharedFilters() filterOptions {
	var f filterOptions
	fl := o.cmd.Flags()
	str := func(name string) string {
		if v := fl.Lookup(name); v != nil {
			return v.Value.String()
		}
		return ""
	}
	if v := fl.Lookup("service"); v != nil {
		if sv, ok := v.Value.(pflag.SliceValue); ok {
			f.services = sv.GetSlice()
		}
	}
	f.operation = str("operation")
	f.since, f.until, f.start, f.end = str("since"), str("until"), str("start"), str("end")
	if d := str("min-duration"); d != "" {
		f.minDuration, _ = time.ParseDuration(d)
	}
	return f
}

// query builds the server query from the flags.
func (o *sourceOptions) query(now time.Time, notify func(string)) (live.TraceQuery, error) {
	l := &o.live
	f := o.sharedFilters()
	q := live.TraceQuery{Services: f.services, MinDuration: f.minDuration, MaxDuration: l.maxDuration, Limit: l.limit}
	if l.limit <= 0 {
		return q, usagef("--limit: must be positive")
	}
	if l.maxDuration < 0 {
		return q, usagef("--max-duration: must not be negative")
	}
	if f.operation != "" {
		re, err := regexp.Compile(f.operation)
		if err != nil {
			return q, usagef("--operation: %v", err)
		}
		if lit, complete := re.LiteralPrefix(); complete {
			q.Operation = lit
		} else {
			notify(fmt.Sprintf("--operation %q is a regexp and servers match exact span names: every operation is pulled and the regexp applies to the report only", f.operation))
		}
	}
	since, until, err := f.window()
	if err != nil {
		return q, err
	}
	if q.Start, err = parseTime(since.value, now); err != nil {
		return q, usagef("%s: %v", since.flag, err)
	}
	if q.End, err = parseTime(until.value, now); err != nil {
		return q, usagef("%s: %v", until.flag, err)
	}
	if !q.Start.IsZero() && !q.End.IsZero() && !q.Start.Before(q.End) {
		return q, usagef("%s must be before %s", since.flag, until.flag)
	}
	if q.End.IsZero() && !q.Start.IsZero() && !q.Start.Before(now) {
		return q, usagef("%s is in the future", since.flag)
	}
	if len(l.tags) > 0 {
		q.Tags = map[string]string{}
		for _, t := range l.tags {
			k, v, ok := strings.Cut(t, "=")
			if !ok || k == "" {
				return q, usagef("--tag %q: want key=value", t)
			}
			q.Tags[k] = v
		}
	}
	ids := l.traceIDs
	if l.traceIDsFrom != "" {
		more, err := readTraceIDs(l.traceIDsFrom)
		if err != nil {
			return q, usagef("--trace-ids-from: %v", err)
		}
		ids = append(ids, more...)
	}
	for _, id := range ids {
		n, err := live.NormalizeTraceID(id)
		if err != nil {
			return q, usagef("--trace-id: %v", err)
		}
		q.TraceIDs = append(q.TraceIDs, n)
	}
	if (l.traceIDsFrom != "" || len(l.traceIDs) > 0) && len(q.TraceIDs) == 0 {
		return q, usagef("--trace-ids-from %s: no trace IDs in it", l.traceIDsFrom)
	}
	if l.jaegerGRPC == "" && l.tempo == "" && len(q.TraceIDs) == 0 && len(q.Services) == 0 {
		// api_v3 may search without a service on some stores, v1 never does.
		notify("no --service given: searching every service (some Jaeger storage backends refuse this)")
	}
	return q, nil
}

// readTraceIDs reads IDs separated by newlines, spaces or commas; text after
// a # is a comment.
func readTraceIDs(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, line := range strings.Split(string(b), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		ids = append(ids, strings.FieldsFunc(line, func(r rune) bool {
			return r == ',' || r == ' ' || r == '\t' || r == '\r'
		})...)
	}
	return ids, nil
}

// pullOptions turns the connection flags into live.PullOptions.
func (c *connOptions) pullOptions(io IO, notify func(string)) (live.PullOptions, error) {
	if c.concurrency <= 0 {
		return live.PullOptions{}, usagef("--concurrency: must be positive")
	}
	if c.timeout <= 0 {
		return live.PullOptions{}, usagef("--timeout: must be positive")
	}
	if c.insecure {
		notify("warning: --insecure-skip-verify: the server's TLS certificate is not checked; anyone on the network path can read or change the answers and see the credentials")
	}
	po := live.PullOptions{
		Timeout: c.timeout, MaxResponseBytes: int64(c.maxResponseBytes), CAFile: c.caFile,
		InsecureSkipVerify: c.insecure, Concurrency: c.concurrency, Getenv: io.Getenv, Notify: notify,
	}
	if io.ErrIsTerminal {
		po.Progress = io.Err
	}
	return po, nil
}

// checkAddress refuses a malformed --jaeger or --jaeger-grpc as a usage error.
func (l *liveOptions) checkAddress() error {
	if l.jaeger != "" && l.jaegerGRPC != "" {
		return usagef("give --jaeger or --jaeger-grpc, not both")
	}
	if l.tempo != "" && (l.jaeger != "" || l.jaegerGRPC != "") {
		return usagef("give --tempo or --jaeger/--jaeger-grpc, not both")
	}
	if l.tempo != "" {
		if err := live.CheckTempoURL(l.tempo); err != nil {
			return usageError{err}
		}
		if l.traceQL != "" && len(l.tags) > 0 {
			return usagef("--tag: with --query, put the conditions in the TraceQL query")
		}
	} else if l.traceQL != "" || l.orgID != "" {
		return usagef("--query and --org-id need --tempo")
	}
	if l.jaeger != "" {
		if err := live.CheckJaegerURL(l.jaeger); err != nil {
			return usageError{err}
		}
	}
	if l.jaegerGRPC != "" {
		if err := live.CheckJaegerGRPCAddr(l.jaegerGRPC); err != nil {
			return usageError{err}
		}
	}
	return nil
}

func (o *sourceOptions) pull(ctx context.Context, io IO) (*model.Dataset, error) {
	l := &o.live
	if err := l.checkAddress(); err != nil {
		return nil, err
	}
	notify := func(msg string) { fmt.Fprintf(io.Err, "trace-forensics: %s\n", msg) }
	q, err := o.query(time.Now(), notify)
	if err != nil {
		return nil, err
	}
	po, err := l.conn.pullOptions(io, notify)
	if err != nil {
		return nil, err
	}
	po.SaveDir = l.save
	opt := sources.Options{Keep: o.keep}
	var ds *model.Dataset
	where := ""
	switch {
	case l.tempo != "":
		where = "tempo " + live.RedactURL(l.tempo)
		if l.traceQL != "" {
			where += ", query " + l.traceQL
		}
		ds, err = live.PullTempo(ctx, live.TempoOptions{URL: l.tempo, Query: l.traceQL, OrgID: l.orgID}, q, po, opt)
	case l.jaeger != "":
		where = "jaeger " + live.RedactURL(l.jaeger)
		ds, err = live.PullJaeger(ctx, l.jaeger, q, po, opt)
	default:
		where = "jaeger " + l.jaegerGRPC
		ds, err = live.PullJaegerGRPC(ctx, l.jaegerGRPC, q, po, opt)
	}
	if err != nil {
		return nil, err
	}
	if ds.Spans == 0 {
		return nil, exitError{code: ExitOK, msg: "no traces matched: " + describeQuery(where, &q)}
	}
	return ds, nil
}

// describeQuery says what was asked, for the "no traces matched" message.
func describeQuery(where string, q *live.TraceQuery) string {
	parts := []string{where}
	if len(q.TraceIDs) > 0 {
		parts = append(parts, fmt.Sprintf("%d trace %s", len(q.TraceIDs), plural(len(q.TraceIDs), "ID", "IDs")))
		return strings.Join(parts, ", ")
	}
	if len(q.Services) > 0 {
		parts = append(parts, "service "+strings.Join(q.Services, ", "))
	}
	if q.Operation != "" {
		parts = append(parts, fmt.Sprintf("operation %q", q.Operation))
	}
	for k, v := range q.Tags {
		parts = append(parts, fmt.Sprintf("tag %s=%s", k, v))
	}
	start, end := q.Start, q.End
	if end.IsZero() {
		end = time.Now()
	}
	if start.IsZero() {
		start = end.Add(-live.DefaultPullLookback)
	}
	parts = append(parts, "from "+start.UTC().Format(time.RFC3339)+" to "+end.UTC().Format(time.RFC3339))
	if q.MinDuration > 0 {
		parts = append(parts, "at least "+q.MinDuration.String())
	}
	if q.MaxDuration > 0 {
		parts = append(parts, "at most "+q.MaxDuration.String())
	}
	return strings.Join(parts, ", ")
}

// byteSize is a flag value in bytes with an optional unit: 1048576, 64KiB,
// 128MiB, 1GiB (KB, MB, GB are taken as the same binary units).
type byteSize int64

func (b *byteSize) String() string {
	n := int64(*b)
	for _, u := range []struct {
		name string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

func (b *byteSize) Set(s string) error {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"GIB", 1 << 30}, {"MIB", 1 << 20}, {"KIB", 1 << 10}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.size
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return fmt.Errorf("%q is not a positive size like 64MiB", s)
	}
	*b = byteSize(n * mult)
	return nil
}

func (b *byteSize) Type() string { return "size" }
