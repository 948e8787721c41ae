package live

// This file is the plumbing every live pull shares (Jaeger over HTTP and
// gRPC today, Tempo next): credentials from the environment, TLS, a
// per-request timeout, a cap on response size, retries of 429 and 5xx with
// backoff, one-line errors that name the URL without credentials, and a
// progress bar for terminals.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/trace-forensics/trace-forensics/sources"
)

// Environment variables that hold credentials for live pulls. Credentials
// are never taken from a flag value or a URL (both end up in shell history
// and process listings) and are never printed. A Tempo client uses the same
// suffixes after TRACE_FORENSICS_TEMPO.
const (
	EnvJaegerPrefix = "TRACE_FORENSICS_JAEGER"
	EnvTempoPrefix  = "TRACE_FORENSICS_TEMPO"

	// EnvSuffixToken holds a bearer token: <prefix>_TOKEN.
	EnvSuffixToken = "_TOKEN"
	// EnvSuffixUser and EnvSuffixPassword hold HTTP basic auth.
	EnvSuffixUser     = "_USER"
	EnvSuffixPassword = "_PASSWORD"
)

// Defaults for PullOptions fields left zero.
const (
	DefaultPullTimeout      = 30 * time.Second
	DefaultMaxResponseBytes = 128 << 20
	DefaultPullConcurrency  = 4
	DefaultPullRetries      = 3
	DefaultRetryBackoff     = 500 * time.Millisecond
	maxRetryWait            = 30 * time.Second
)

// PullOptions control how a live source is queried. They are the same for
// every server kind.
type PullOptions struct {
	// Timeout bounds each request (for a gRPC stream: each wait for the next
	// message). 0 means DefaultPullTimeout.
	Timeout time.Duration
	// MaxResponseBytes caps one answer, so a runaway server cannot exhaust
	// memory. 0 means DefaultMaxResponseBytes.
	MaxResponseBytes int64
	// CAFile is a PEM file of certificate authorities trusted besides the
	// system's.
	CAFile string
	// InsecureSkipVerify turns certificate checks off (the caller warns).
	InsecureSkipVerify bool
	// Concurrency bounds parallel requests (traces fetched by ID, operations
	// listed per service). 0 means DefaultPullConcurrency.
	Concurrency int
	// Retries is how often a 429 or 5xx answer is retried; 0 means
	// DefaultPullRetries, negative means never.
	Retries int
	// RetryBackoff is the first wait before a retry; it doubles each time.
	// 0 means DefaultRetryBackoff.
	RetryBackoff time.Duration
	// Getenv reads the credential variables; nil reads none.
	Getenv func(string) string
	// Progress receives a progress bar; set it only when it is a terminal.
	Progress io.Writer
	// Notify receives one-line notices about the pull (limit reached, search
	// windows that could not be split); nil drops them.
	Notify func(string)
	// SaveDir, when set, receives every answer as files that read back to
	// the same dataset (see Saver).
	SaveDir string
	// Now is the clock for default time windows; nil means time.Now.
	Now func() time.Time
	// PageSize is how many traces one search asks for; 0 means 1000. The
	// time window is split when an answer is full.
	PageSize int
}

func (o PullOptions) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return DefaultPullTimeout
}

func (o PullOptions) maxBytes() int64 {
	if o.MaxResponseBytes > 0 {
		return o.MaxResponseBytes
	}
	return DefaultMaxResponseBytes
}

func (o PullOptions) concurrency() int {
	if o.Concurrency > 0 {
		return o.Concurrency
	}
	return DefaultPullConcurrency
}

func (o PullOptions) retries() int {
	switch {
	case o.Retries < 0:
		return 0
	case o.Retries == 0:
		return DefaultPullRetries
	}
	return o.Retries
}

func (o PullOptions) backoff() time.Duration {
	if o.RetryBackoff > 0 {
		return o.RetryBackoff
	}
	return DefaultRetryBackoff
}

func (o PullOptions) notify(format string, args ...any) {
	if o.Notify != nil {
		o.Notify(fmt.Sprintf(format, args...))
	}
}

func (o PullOptions) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// credentials are read from <prefix>_TOKEN or <prefix>_USER and
// <prefix>_PASSWORD.
type credentials struct {
	prefix         string
	token          string
	user, password string
}

func credentialsFromEnv(getenv func(string) string, prefix string) (credentials, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	c := credentials{
		prefix:   prefix,
		token:    strings.TrimSpace(getenv(prefix + EnvSuffixToken)),
		user:     getenv(prefix + EnvSuffixUser),
		password: getenv(prefix + EnvSuffixPassword),
	}
	switch {
	case c.token != "" && (c.user != "" || c.password != ""):
		return c, fmt.Errorf("both %s%s and %s%s are set: use a bearer token or basic auth, not both",
			prefix, EnvSuffixToken, prefix, EnvSuffixUser)
	case c.password != "" && c.user == "":
		return c, fmt.Errorf("%s%s is set but %s%s is not", prefix, EnvSuffixPassword, prefix, EnvSuffixUser)
	}
	return c, nil
}

func (c credentials) set() bool { return c.token != "" || c.user != "" }

// source names the variables the credentials came from, for messages.
func (c credentials) source() string {
	if c.token != "" {
		return c.prefix + EnvSuffixToken
	}
	return c.prefix + EnvSuffixUser + "/" + EnvSuffixPassword[1:]
}

func (c credentials) apply(h http.Header) {
	switch {
	case c.token != "":
		h.Set("Authorization", "Bearer "+c.token)
	case c.user != "":
		r := http.Request{Header: h}
		r.SetBasicAuth(c.user, c.password)
	}
}

// hint tells how to fix a 401 or 403.
func (c credentials) hint(status int) string {
	if !c.set() {
		return fmt.Sprintf("the server wants credentials: set %s%s (bearer token) or %s%s and %s%s",
			c.prefix, EnvSuffixToken, c.prefix, EnvSuffixUser, c.prefix, EnvSuffixPassword)
	}
	if status == http.StatusForbidden {
		return fmt.Sprintf("the credentials from %s are not allowed to read this", c.source())
	}
	return fmt.Sprintf("the credentials from %s were rejected", c.source())
}

// tlsConfig trusts the system's authorities plus those in CAFile.
func tlsConfig(o PullOptions) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: o.InsecureSkipVerify}
	if o.CAFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(o.CAFile)
	if err != nil {
		return nil, fmt.Errorf("--ca-file: %w", sources.PathError(err))
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--ca-file %s: no PEM certificate found in it", o.CAFile)
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// PullError is a failed request: one line naming the URL (never with
// credentials) and what went wrong.
type PullError struct {
	URL string // scheme://host/path, no userinfo, no query
	Msg string
	Err error // the underlying error, if any
}

func (e *PullError) Error() string { return e.URL + ": " + e.Msg }
func (e *PullError) Unwrap() error { return e.Err }

// errTooLarge marks an answer over the size cap; searches split their time
// window and try again.
var errTooLarge = errors.New("answer too large")

// redactURL drops userinfo and the query, keeping what locates the server.
func redactURL(u *url.URL) string {
	c := *u
	c.User = nil
	c.RawQuery = ""
	c.ForceQuery = false
	c.Fragment = ""
	return c.String()
}

// RedactURL returns a URL fit for messages: no credentials, no query.
// Text that does not parse as a URL is returned with anything before an '@'
// removed.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		if i := strings.LastIndexByte(s, '@'); i >= 0 {
			return s[i+1:]
		}
		return s
	}
	return redactURL(u)
}

// parseBaseURL checks a server address given on the command line.
func parseBaseURL(flag, raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("%s: %q is not a URL like http://localhost:16686", flag, RedactURL(raw))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%s: %s: the scheme must be http or https", flag, redactURL(u))
	}
	if u.User != nil {
		return nil, fmt.Errorf("%s: %s: put credentials in environment variables, not in the URL (it shows in shell history and process lists)", flag, redactURL(u))
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

// httpClient makes GET requests to one server.
type httpClient struct {
	base  *url.URL
	hc    *http.Client
	creds credentials
	opt   PullOptions
	what  string // "Jaeger", for hints
	port  string // the server's usual query port, for hints
}

func newHTTPClient(base *url.URL, envPrefix, what, port string, opt PullOptions) (*httpClient, error) {
	creds, err := credentialsFromEnv(opt.Getenv, envPrefix)
	if err != nil {
		return nil, err
	}
	tc, err := tlsConfig(opt)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	tr.MaxIdleConnsPerHost = opt.concurrency()
	tr.ResponseHeaderTimeout = opt.timeout()
	return &httpClient{
		base: base, creds: creds, opt: opt, what: what, port: port,
		hc: &http.Client{
			Transport: tr,
			// A redirect to another host must not carry the credentials.
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) >= 5 {
					return errors.New("too many redirects")
				}
				if req.URL.Host != via[0].URL.Host {
					req.Header.Del("Authorization")
				}
				return nil
			},
		},
	}, nil
}

// httpAnswer is a response read whole.
type httpAnswer struct {
	url         string // redacted
	status      int
	contentType string
	body        []byte
}

// get requests base+path with the query and reads the answer, retrying 429
// and 5xx. Transport failures, 401/403 and oversized answers are errors;
// other statuses are returned for the caller to judge.
func (c *httpClient) get(ctx context.Context, path string, q url.Values) (*httpAnswer, error) {
	u := *c.base
	u.Path = c.base.Path + path
	u.RawQuery = q.Encode()
	shown := redactURL(&u)
	retries := c.opt.retries()
	wait := c.opt.backoff()
	for attempt := 0; ; attempt++ {
		a, retryAfter, err := c.once(ctx, &u, shown)
		if err != nil {
			return nil, err
		}
		if !retryable(a) || attempt >= retries {
			return a, nil
		}
		d := wait + time.Duration(rand.Int64N(int64(wait)/4+1))
		if retryAfter > 0 {
			d = min(retryAfter, maxRetryWait)
		}
		wait *= 2
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, &PullError{URL: shown, Msg: "interrupted while waiting to retry", Err: ctx.Err()}
		case <-t.C:
		}
	}
}

// retryable reports whether an answer is worth asking again: throttling and
// server errors, except Jaeger's deterministic "search depth" refusal.
func retryable(a *httpAnswer) bool {
	if a.status == http.StatusTooManyRequests {
		return true
	}
	if a.status < 500 || a.status == http.StatusNotImplemented {
		return false
	}
	return !isSearchDepthError(a.body)
}

func isSearchDepthError(body []byte) bool {
	return bytes.Contains(body, []byte("search depth"))
}

func (c *httpClient) once(ctx context.Context, u *url.URL, shown string) (*httpAnswer, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opt.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, 0, &PullError{URL: shown, Msg: err.Error(), Err: err}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "trace-forensics")
	c.creds.apply(req.Header)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, 0, c.transportError(ctx, shown, err)
	}
	defer resp.Body.Close()
	a := &httpAnswer{url: shown, status: resp.StatusCode, contentType: resp.Header.Get("Content-Type")}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return nil, 0, &PullError{URL: shown, Msg: fmt.Sprintf("HTTP %s: %s", statusText(resp.StatusCode), c.creds.hint(resp.StatusCode))}
	}
	limit := c.opt.maxBytes()
	if resp.ContentLength > limit {
		return nil, 0, c.tooLarge(shown)
	}
	a.body, err = io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, 0, c.transportError(ctx, shown, err)
	}
	if int64(len(a.body)) > limit {
		return nil, 0, c.tooLarge(shown)
	}
	var retryAfter time.Duration
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
		retryAfter = time.Duration(s) * time.Second
	}
	return a, retryAfter, nil
}

func (c *httpClient) tooLarge(shown string) error {
	return &PullError{URL: shown, Err: errTooLarge,
		Msg: fmt.Sprintf("the answer is larger than --max-response-bytes (%s): raise it or narrow the query", formatBytes(c.opt.maxBytes()))}
}

func (c *httpClient) transportError(ctx context.Context, shown string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := describeNetError(err, c.opt.timeout(), ctx.Err() == context.DeadlineExceeded)
	if errors.Is(err, syscall.ECONNREFUSED) {
		msg += fmt.Sprintf(" (is %s running there? its query port is usually %s)", c.what, c.port)
	}
	return &PullError{URL: shown, Msg: msg, Err: err}
}

// describeNetError turns a dial, TLS or read failure into a short phrase.
func describeNetError(err error, timeout time.Duration, deadline bool) string {
	var dnsErr *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verifyErr *tls.CertificateVerificationError
	var recordErr tls.RecordHeaderError
	var netErr net.Error
	switch {
	case deadline || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		return fmt.Sprintf("no answer within %s (--timeout)", timeout)
	case errors.As(err, &dnsErr):
		why := dnsErr.Err
		if dnsErr.IsNotFound {
			why = "no such host"
		}
		return fmt.Sprintf("cannot resolve host %q: %s", dnsErr.Name, why)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.As(err, &unknownCA):
		return "TLS: the server's certificate is signed by an unknown authority (pass the CA with --ca-file)"
	case errors.As(err, &hostErr):
		return "TLS: " + oneLine(hostErr.Error(), 200)
	case errors.As(err, &invalid):
		return "TLS: the server's certificate is not valid: " + oneLine(invalid.Error(), 200)
	case errors.As(err, &verifyErr):
		return "TLS: " + oneLine(verifyErr.Error(), 200)
	case errors.As(err, &recordErr):
		return "TLS handshake failed: the server does not speak TLS (try http:// instead of https://)"
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return "TLS handshake failed: the server speaks plain HTTP (try http:// instead of https://)"
	case strings.Contains(err.Error(), "tls:") || strings.Contains(err.Error(), "x509:"):
		return "TLS handshake failed: " + oneLine(err.Error(), 200)
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return "the server closed the connection: " + oneLine(err.Error(), 200)
	}
	return oneLine(err.Error(), 300)
}

// statusError describes an answer whose status the caller did not expect,
// with the server's own message when it sent one.
func (c *httpClient) statusError(a *httpAnswer) error {
	msg := "HTTP " + statusText(a.status)
	if m := serverMessage(a.body); m != "" {
		msg += ": " + m
	}
	if a.status == http.StatusNotFound {
		msg += fmt.Sprintf(" (is this %s's query address, usually port %s?)", c.what, c.port)
	}
	return &PullError{URL: a.url, Msg: msg}
}

// notJSON describes a 2xx answer that is not JSON at all.
func (c *httpClient) notJSON(a *httpAnswer) error {
	ct := a.contentType
	if ct == "" {
		ct = "no Content-Type"
	}
	return &PullError{URL: a.url, Msg: fmt.Sprintf("the answer is not JSON (%s, starts with %q): is this %s's query address, usually port %s?",
		ct, oneLine(string(a.body), 40), c.what, c.port)}
}

// badJSON describes a body that starts like JSON but does not parse.
func badJSON(a *httpAnswer, err error) error {
	return &PullError{URL: a.url, Msg: "the answer is not valid JSON: " + oneLine(err.Error(), 200), Err: err}
}

// looksJSON reports whether a body starts with an object or array.
func looksJSON(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && (b[0] == '{' || b[0] == '[')
}

// serverMessage extracts an error message from a body: Jaeger's api_v3
// {"error":{"message"}}, its v1 {"errors":[{"msg"}]}, or the first line of text.
func serverMessage(body []byte) string {
	var v struct {
		Error *struct {
			Message string `json:"message"`
		} `json:"error"`
		Errors []struct {
			Msg string `json:"msg"`
		} `json:"errors"`
		Message string `json:"message"`
	}
	if looksJSON(body) && json.Unmarshal(body, &v) == nil {
		switch {
		case v.Error != nil && v.Error.Message != "":
			return oneLine(v.Error.Message, 200)
		case len(v.Errors) > 0 && v.Errors[0].Msg != "":
			return oneLine(v.Errors[0].Msg, 200)
		case v.Message != "":
			return oneLine(v.Message, 200)
		}
	}
	return oneLine(string(body), 200)
}

// oneLine shortens s to one line of at most n runes of printable text.
func oneLine(s string, n int) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i] + " …"
	}
	var b strings.Builder
	count := 0
	for _, r := range s {
		if count == n {
			b.WriteString("…")
			break
		}
		if r == utf8.RuneError || r < 0x20 || r == 0x7f {
			r = '?'
		}
		b.WriteRune(r)
		count++
	}
	return b.String()
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return fmt.Sprintf("%d %s", code, t)
	}
	return strconv.Itoa(code)
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%.4g MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.4g KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// progress draws a one-line bar on a terminal: traces in so far, out of
// the total when it is known, and bytes received. Nothing is written when
// the writer is nil.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	label string
	total int
	done  int
	bytes int64
	last  time.Time
	drawn bool
}

func newProgress(w io.Writer, label string, total int) *progress {
	return &progress{w: w, label: label, total: total}
}

// add counts traces and bytes received and redraws at most 10 times a second.
func (p *progress) add(traces int, bytes int64) {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += traces
	p.bytes += bytes
	if now := time.Now(); now.Sub(p.last) >= 100*time.Millisecond {
		p.last = now
		p.draw()
	}
}

func (p *progress) draw() {
	line := p.label + ": "
	if p.total > 0 {
		const width = 24
		n := min(width, p.done*width/p.total)
		line += "[" + strings.Repeat("=", n) + strings.Repeat(" ", width-n) + "] " +
			fmt.Sprintf("%d/%d traces", p.done, p.total)
	} else {
		line += fmt.Sprintf("%d traces", p.done)
	}
	line += ", " + formatBytes(p.bytes)
	fmt.Fprintf(p.w, "\r%s\x1b[K", line)
	p.drawn = true
}

// finish clears the bar.
func (p *progress) finish() {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}
