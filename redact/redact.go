// Package redact removes personal data from the text a report shows. It
// sits between analyze and report in the pipeline: attribute values never
// reach a result except those of keys the user named (grouping, stage
// rules), and those, with span, service and stage names, pass through a
// Redactor before any renderer sees them.
//
// A Redactor replaces, wherever they occur in a string:
//
//   - email addresses, with [email];
//   - card numbers (13 to 19 digits, spaces or dashes allowed between
//     them, that pass the Luhn check), with [card];
//   - phone numbers written as phone numbers: +country… (8 to 15 digits),
//     or 3-3-4 digit groups with separators as in (555) 010-4477, with
//     [phone];
//   - IPv4 and IPv6 addresses, with [ip];
//   - the values seen for the keys listed with --redact-key (Learn), with
//     [key], and as a whole value of such a key, a pseudonym "key #n".
//
// Plain digit runs are left alone unless they pass as a card number: IDs,
// counts and timestamps are common in span names and rarely personal.
package redact

import (
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Options say what a Redactor hides besides the built-in patterns.
type Options struct {
	// Keys are attribute keys whose values are hidden: a value of one of
	// them becomes a pseudonym, and the values seen (Learn) are cut out of
	// every other string.
	Keys []string
}

// Redactor rewrites strings. The zero value is not usable; call New.
type Redactor struct {
	keys map[string]bool
	// learned values of the keys, per key, and their pseudonyms
	values map[string][]string
	pseudo map[string]map[string]string
	repl   *strings.Replacer // learned values → [key]; nil when none
}

// MinLearned is the shortest learned value searched for inside other
// strings: shorter ones ("A", "eu") would match everywhere. A whole value
// of a listed key is always replaced, whatever its length.
const MinLearned = 4

// New returns a Redactor for the options.
func New(opt Options) *Redactor {
	r := &Redactor{keys: map[string]bool{}, values: map[string][]string{}, pseudo: map[string]map[string]string{}}
	for _, k := range opt.Keys {
		if k = strings.TrimSpace(k); k != "" {
			r.keys[k] = true
		}
	}
	return r
}

// Keys returns the listed keys, sorted.
func (r *Redactor) Keys() []string {
	out := make([]string, 0, len(r.keys))
	for k := range r.keys {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Listed reports whether values of key are hidden whole.
func (r *Redactor) Listed(key string) bool { return r.keys[key] }

// Learn records values of a listed key, so that they are cut out wherever
// they appear (a user ID inside a span name) and numbered for pseudonyms
// in sorted order, which does not depend on the order they were seen in.
// Values of keys that are not listed are ignored.
func (r *Redactor) Learn(key string, values ...string) {
	if !r.keys[key] {
		return
	}
	r.values[key] = append(r.values[key], values...)
	slices.Sort(r.values[key])
	r.values[key] = slices.Compact(r.values[key])
	p := map[string]string{}
	for i, v := range r.values[key] {
		p[v] = key + " #" + strconv.Itoa(i+1)
	}
	r.pseudo[key] = p
	r.repl = nil
	var pairs []string
	keys := r.Keys()
	type lv struct{ v, key string }
	var all []lv
	for _, k := range keys {
		for _, v := range r.values[k] {
			if utf8.RuneCountInString(v) >= MinLearned {
				all = append(all, lv{v, k})
			}
		}
	}
	// Longest first, so that a value containing another is replaced whole.
	slices.SortStableFunc(all, func(a, b lv) int { return len(b.v) - len(a.v) })
	for _, x := range all {
		pairs = append(pairs, x.v, "["+x.key+"]")
	}
	if len(pairs) > 0 {
		r.repl = strings.NewReplacer(pairs...)
	}
}

// Value redacts the value of attribute key: a listed key's value becomes
// its pseudonym ("user.id #3"), any other passes through String.
func (r *Redactor) Value(key, v string) string {
	if r.keys[key] {
		if p, ok := r.pseudo[key][v]; ok {
			return p
		}
		return key + " #?"
	}
	return r.String(v)
}

// String returns s with personal data replaced by placeholders.
func (r *Redactor) String(s string) string {
	if s == "" {
		return s
	}
	if r != nil && r.repl != nil {
		s = r.repl.Replace(s)
	}
	return Patterns(s)
}

// Patterns applies the built-in patterns alone: emails, card numbers,
// phone numbers and IP addresses. A replacement can leave a neighbour
// standing alone that was glued to it before ("::00.::0"), so the patterns
// are applied until nothing changes: redacting twice gives the same text.
func Patterns(s string) string {
	for range 8 {
		if !maybePII(s) {
			return s
		}
		next := patternsOnce(s)
		if next == s {
			return s
		}
		s = next
	}
	return s
}

func patternsOnce(s string) string {
	s = emailRE.ReplaceAllString(s, "[email]")
	s = replaceChecked(s, cardRE, "[card]", isCard)
	s = replaceChecked(s, phoneRE, "[phone]", isPhone)
	s = replaceChecked(s, ipv6RE, "[ip]", isIPv6)
	s = replaceChecked(s, ipv4RE, "[ip]", isIPv4)
	return s
}

// maybePII is a cheap test that most names fail: every pattern needs an @,
// a dot or a colon, or a run of digits.
func maybePII(s string) bool {
	digits := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '@' || c == ':':
			return true
		case c == '%' && strings.HasPrefix(s[i:], "%40"):
			return true
		case c >= '0' && c <= '9':
			digits++
			if digits >= 4 {
				return true
			}
		}
	}
	return false
}

var (
	// An address with a dotted domain; also the URL-encoded form.
	emailRE = regexp.MustCompile(`(?i)[a-z0-9._%+\-]+(?:@|%40)[a-z0-9\-]+(?:\.[a-z0-9\-]+)*\.[a-z]{2,}`)
	// 13-19 digits, single spaces or dashes between them.
	cardRE = regexp.MustCompile(`\d(?:[ \-]?\d){12,18}`)
	// +CC… international, or NANP-like 3-3-4 groups with separators.
	phoneRE = regexp.MustCompile(`\+\d(?:[ .\-]?\(?\d+\)?){2,7}|\(?\d{3}\)?[ .\-]\d{3}[ .\-]\d{4}`)
	ipv4RE  = regexp.MustCompile(`\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}`)
	// Hex groups and colons (and a trailing dotted quad), validated below.
	ipv6RE = regexp.MustCompile(`(?i)[0-9a-f]{0,4}(?::(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-f]{0,4})){2,7}`)
)

// replaceChecked replaces the matches of re that stand alone (not glued to
// letters or digits) and that ok accepts.
func replaceChecked(s string, re *regexp.Regexp, with string, ok func(string) bool) string {
	locs := re.FindAllStringIndex(s, -1)
	if locs == nil {
		return s
	}
	var b strings.Builder
	last := 0
	for _, l := range locs {
		m := s[l[0]:l[1]]
		if !standsAlone(s, l[0], l[1]) || !ok(m) {
			continue
		}
		b.WriteString(s[last:l[0]])
		b.WriteString(with)
		last = l[1]
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// standsAlone reports whether s[i:j] is not part of a longer word or number.
func standsAlone(s string, i, j int) bool {
	if i > 0 {
		r, _ := utf8.DecodeLastRuneInString(s[:i])
		if isWord(r) {
			return false
		}
		// "1.2.3.4.5" or "v1.2.3.4": a longer dotted number, not an address.
		if r == '.' && i > 1 && isWord(rune(s[i-2])) {
			return false
		}
	}
	if j < len(s) {
		r, _ := utf8.DecodeRuneInString(s[j:])
		if isWord(r) {
			return false
		}
		if r == '.' && j+1 < len(s) && s[j+1] >= '0' && s[j+1] <= '9' {
			return false
		}
	}
	return true
}

func isWord(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

func digitsOf(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			out = append(out, s[i]-'0')
		}
	}
	return out
}

// isCard: 13-19 digits that pass the Luhn check.
func isCard(m string) bool {
	d := digitsOf(m)
	if len(d) < 13 || len(d) > 19 {
		return false
	}
	return Luhn(d)
}

// Luhn reports whether the digits (0-9 each) pass the Luhn checksum.
func Luhn(d []byte) bool {
	sum := 0
	for i := range d {
		v := int(d[len(d)-1-i])
		if i%2 == 1 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum%10 == 0
}

func isPhone(m string) bool {
	n := len(digitsOf(m))
	if strings.HasPrefix(m, "+") {
		return n >= 8 && n <= 15
	}
	return n == 10
}

func isIPv4(m string) bool {
	a, err := netip.ParseAddr(m)
	return err == nil && a.Is4()
}

// isIPv6 accepts what parses as an IPv6 address and has a digit in it, so
// that names like "Bad::Add" (C++ or Rust paths) are not taken for one.
func isIPv6(m string) bool {
	if strings.Count(m, ":") < 2 || !strings.ContainsAny(m, "0123456789") {
		return false
	}
	a, err := netip.ParseAddr(m)
	return err == nil && a.Is6()
}
