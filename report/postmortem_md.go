package report

import (
	"fmt"
	"io"
	"math"
	"path"
	"strings"

	"github.com/trace-forensics/trace-forensics/analyze"
)

// PostmortemMarkdown writes the postmortem as GitHub-flavoured Markdown:
// the summary first, then the engineering detail. Its charts are SVG files
// written with o.WriteAsset and linked from o.Assets, so the report pastes
// into a postmortem document with its pictures.
func PostmortemMarkdown(w io.Writer, r *analyze.Result, o PostmortemOptions) error {
	d := pmBuild(r, &o)
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", pmMdText(d.Title))
	if d.Window != "" {
		fmt.Fprintf(&b, "_%s_\n\n", pmMdText(d.Window))
	}
	b.WriteString("## Summary\n\n")
	for _, f := range d.Figures {
		line := fmt.Sprintf("**%s: %s**", pmMdText(f.Label), pmMdText(f.Value))
		if f.Note != "" {
			line += " — " + pmMdText(f.Note)
		}
		switch f.Status {
		case "bad":
			line = "🔴 " + line
		case "ok":
			line = "🟢 " + line
		}
		b.WriteString("- " + line + "\n")
	}
	b.WriteString("\n")
	for _, s := range d.Summary {
		b.WriteString(pmMdText(s) + "\n\n")
	}
	if c := d.Comparison; c != nil {
		fmt.Fprintf(&b, "## %s\n\n", pmMdText(c.Title))
		if c.Verdict != "" {
			fmt.Fprintf(&b, "**Verdict: %s**\n\n", pmMdText(c.Verdict))
		}
		for _, l := range c.Lines {
			b.WriteString(pmMdText(l) + "\n\n")
		}
		for _, t := range c.Tables {
			pmMdTable(&b, t)
		}
	}
	for _, s := range d.Sections {
		fmt.Fprintf(&b, "## %s\n\n", pmMdText(s.Title))
		for _, p := range s.Paras {
			b.WriteString(pmMdText(p) + "\n\n")
		}
		for i, l := range s.Links {
			fmt.Fprintf(&b, "%d. %s\n", i+1, pmMdCell(l))
		}
		if len(s.Links) > 0 {
			b.WriteString("\n")
		}
		for _, c := range s.Charts {
			if o.WriteAsset == nil {
				continue
			}
			if err := o.WriteAsset(c.File, []byte(c.SVG)); err != nil {
				return err
			}
			fmt.Fprintf(&b, "![%s](%s)\n\n", pmMdText(c.Alt), pmMdURL(path.Join(o.Assets, c.File)))
		}
		for _, t := range s.Tables {
			pmMdTable(&b, t)
		}
	}
	_, err := io.WriteString(w, strings.TrimRight(b.String(), "\n")+"\n")
	return err
}

func pmMdTable(b *strings.Builder, t *ReportTable) {
	if len(t.Rows) == 0 {
		return
	}
	if t.Caption != "" {
		fmt.Fprintf(b, "**%s**\n\n", pmMdText(t.Caption))
	}
	head := make([]string, len(t.Head))
	seps := make([]string, len(t.Head))
	for i, h := range t.Head {
		head[i] = pmMdText(h)
		seps[i] = "---"
		if i >= t.Numeric && pmNumericColumn(t, i) {
			seps[i] = "---:"
		}
	}
	fmt.Fprintf(b, "| %s |\n|%s|\n", strings.Join(head, " | "), strings.Join(seps, "|"))
	for _, row := range t.Rows {
		cells := make([]string, len(row))
		for i, c := range row {
			cells[i] = pmMdCell(c)
		}
		fmt.Fprintf(b, "| %s |\n", strings.Join(cells, " | "))
	}
	b.WriteString("\n")
}

// pmNumericColumn: a column is numeric when its cells have sort keys.
func pmNumericColumn(t *ReportTable, col int) bool {
	for _, row := range t.Rows {
		if col < len(row) && math.IsNaN(row[col].Sort) {
			return false
		}
	}
	return true
}

func pmMdCell(c ReportCell) string {
	text := pmMdText(c.Text)
	if c.Code {
		text = "`" + strings.ReplaceAll(c.Text, "`", "'") + "`"
	}
	if c.Link != "" {
		return "[" + text + "](" + pmMdURL(c.Link) + ")"
	}
	return text
}

// pmMdText keeps names from breaking a table or being read as markup; a
// "](" is broken up so that no name becomes a link.
func pmMdText(s string) string {
	return pmMdReplacer.Replace(s)
}

var pmMdReplacer = strings.NewReplacer(
	`\`, `\\`, "|", `\|`, "\n", " ", "*", `\*`, "_", `\_`, "`", "\\`",
	"<", "&lt;", ">", "&gt;", "](", `]\(`,
)

// pmMdURL escapes what would end a Markdown link target.
func pmMdURL(u string) string {
	return strings.NewReplacer(" ", "%20", "(", "%28", ")", "%29", "<", "%3C", ">", "%3E").Replace(u)
}
