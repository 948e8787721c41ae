package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/trace-forensics/trace-forensics/analyze"
)

// Rules writes the stage rules for `trace-forensics stages`: each rule, in
// the order they are tried, with the operations whose spans it caught when
// the result comes from data (withData), then the operations no rule
// caught and the stages no span fell in.
func Rules(w io.Writer, r *analyze.Result, withData bool) error {
	fmt.Fprintf(w, "Stage rules, tried in order; the first that matches a span decides its stage (%d rules)\n", len(r.Rules))
	if withData {
		fmt.Fprintf(w, "Operations caught in %d spans of %d traces.\n", r.Spans, r.TracesRead)
	}
	for _, u := range r.Rules {
		fmt.Fprintf(w, "\n%3d. %s  <-  %s   [%s]\n", u.Index, u.Stage, u.Conditions, u.Origin)
		if !withData {
			continue
		}
		if len(u.Matched)+len(u.Inherited) == 0 {
			fmt.Fprintln(w, "       (caught nothing)")
		}
		writeOpCounts(w, u.Matched, "")
		writeOpCounts(w, u.Inherited, " (below a matched span)")
	}
	if !withData {
		return nil
	}
	fmt.Fprintln(w, "\nCaught by no rule: each is a stage of its own, named service/operation")
	if len(r.Unmatched) == 0 {
		fmt.Fprintln(w, "       (none)")
	}
	writeOpCounts(w, r.Unmatched, "")
	if len(r.Coverage.MissingStages) > 0 {
		fmt.Fprintln(w, "\nStages no span fell in:")
		for _, s := range r.Coverage.MissingStages {
			fmt.Fprintf(w, "       %s\n", s)
		}
	}
	return nil
}

func writeOpCounts(w io.Writer, ops []analyze.OpCount, note string) {
	for _, o := range ops {
		fmt.Fprintf(w, "       %-56s %9s spans%s\n", o.Service+" "+o.Operation, strconv.FormatInt(o.Spans, 10), note)
	}
}

type rulesJSON struct {
	SchemaVersion int            `json:"schema_version"`
	Rules         []ruleJSON     `json:"rules"`
	Unmatched     []opCountJSON  `json:"unmatched"`
	MissingStages []missingStage `json:"missing_stages"`
	Traces        int            `json:"traces_read"`
	Spans         int            `json:"spans"`
}

type ruleJSON struct {
	Index      int           `json:"index"`
	Stage      string        `json:"stage"`
	Conditions string        `json:"conditions"`
	Origin     string        `json:"origin"`
	Matched    []opCountJSON `json:"matched"`
	Inherited  []opCountJSON `json:"inherited"`
}

type opCountJSON struct {
	Service   string `json:"service"`
	Operation string `json:"operation"`
	Spans     int64  `json:"spans"`
}

type missingStage struct {
	Stage string `json:"stage"`
}

// RulesJSON writes the stage rules and what they caught as JSON.
func RulesJSON(w io.Writer, r *analyze.Result) error {
	out := rulesJSON{SchemaVersion: SchemaVersion, Rules: []ruleJSON{}, Unmatched: opCounts(r.Unmatched),
		MissingStages: missingStages(r.Coverage.MissingStages), Traces: r.TracesRead, Spans: r.Spans}
	for _, u := range r.Rules {
		out.Rules = append(out.Rules, ruleJSON{Index: u.Index, Stage: u.Stage, Conditions: u.Conditions, Origin: u.Origin,
			Matched: opCounts(u.Matched), Inherited: opCounts(u.Inherited)})
	}
	return encodeJSON(w, out)
}

func opCounts(ops []analyze.OpCount) []opCountJSON {
	out := make([]opCountJSON, 0, len(ops))
	for _, o := range ops {
		out = append(out, opCountJSON{o.Service, o.Operation, o.Spans})
	}
	return out
}

func missingStages(names []string) []missingStage {
	out := make([]missingStage, 0, len(names))
	for _, n := range names {
		out = append(out, missingStage{n})
	}
	return out
}

func encodeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
