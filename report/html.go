package report

import (
	"html/template"
	"io"
	"math"
	"strconv"

	"github.com/trace-forensics/trace-forensics/analyze"
)

// PostmortemHTML writes the postmortem as one self-contained HTML page:
// styles, the table-sorting script and the charts (inline SVG) are in the
// file, which fetches nothing (its Content-Security-Policy forbids it), so
// it opens from disk, offline, and prints readably.
func PostmortemHTML(w io.Writer, r *analyze.Result, o PostmortemOptions) error {
	d := pmBuild(r, &o)
	return pmPage.Execute(w, pmHTMLData{Doc: d, Style: template.CSS(pmCSS), Script: template.JS(pmJS)})
}

type pmHTMLData struct {
	Doc    *pmDocument
	Style  template.CSS
	Script template.JS
}

var pmPage = template.Must(template.New("page").Funcs(template.FuncMap{
	"svg": func(s string) template.HTML { return template.HTML(s) }, // drawn by svg.go, every text escaped
	"sortKey": func(f float64) string {
		if math.IsNaN(f) {
			return ""
		}
		return strconv.FormatFloat(f, 'g', -1, 64)
	},
	"isNaN":   math.IsNaN,
	"numeric": pmNumericColumn,
	"safeURL": pmSafeURL,
}).Parse(pmHTML))

// pmSafeURL lets only http and https links through; others become "#".
func pmSafeURL(u string) template.URL {
	if len(u) >= 7 && (u[:7] == "http://" || (len(u) >= 8 && u[:8] == "https://")) {
		return template.URL(u)
	}
	return "#"
}

const pmHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'">
<meta name="referrer" content="no-referrer">
<meta name="generator" content="trace-forensics">
<title>{{.Doc.Title}}</title>
<style>{{.Style}}</style>
</head>
<body>
<header>
<h1>{{.Doc.Title}}</h1>
{{with .Doc.Window}}<p class="window">{{.}}</p>{{end}}
</header>
<section id="summary" class="summary" aria-label="Summary">
<div class="figures">
{{range .Doc.Figures}}<div class="figure{{if .Status}} {{.Status}}{{end}}"><div class="label">{{.Label}}</div><div class="value">{{.Value}}</div>{{with .Note}}<div class="note">{{.}}</div>{{end}}</div>
{{end}}</div>
{{range .Doc.Summary}}<p>{{.}}</p>
{{end}}</section>
<nav aria-label="Contents"><ol>
{{with .Doc.Comparison}}<li><a href="#comparison">{{.Title}}</a></li>{{end}}
{{range .Doc.Sections}}<li><a href="#{{.ID}}">{{.Title}}</a></li>
{{end}}</ol></nav>
<main>
{{with .Doc.Comparison}}<section id="comparison">
<h2>{{.Title}}</h2>
{{with .Verdict}}<p class="verdict {{.}}">Verdict: {{.}}</p>{{end}}
{{range .Lines}}<p>{{.}}</p>
{{end}}{{range .Tables}}{{template "table" .}}{{end}}
</section>{{end}}
{{range .Doc.Sections}}<section id="{{.ID}}">
<h2>{{.Title}}</h2>
{{range .Paras}}<p>{{.}}</p>
{{end}}{{with .Links}}<ol class="traces">{{range .}}<li>{{template "cell" .}}</li>{{end}}</ol>
{{end}}{{range .Charts}}<figure class="chart">{{svg .SVG}}</figure>
{{end}}{{range .Tables}}{{template "table" .}}{{end}}
</section>
{{end}}</main>
<footer>Made by trace-forensics. Attribute values are not shown; names pass a redactor for emails, phone and card numbers and IP addresses.</footer>
<script>{{.Script}}</script>
</body>
</html>
{{define "table"}}{{if .Rows}}<div class="table-wrap"><table class="sortable">
{{with .Caption}}<caption>{{.}}</caption>{{end}}
<thead><tr>{{$t := .}}{{range $i, $h := .Head}}<th scope="col"{{if numeric $t $i}} class="num" data-type="num"{{end}}>{{$h}}</th>{{end}}</tr></thead>
<tbody>
{{range .Rows}}<tr>{{range .}}<td{{if not (isNaN .Sort)}} class="num" data-sort="{{sortKey .Sort}}"{{end}}>{{template "cell" .}}</td>{{end}}</tr>
{{end}}</tbody></table></div>
{{end}}{{end}}
{{define "cell"}}{{if .Link}}<a href="{{safeURL .Link}}" rel="noreferrer noopener" target="_blank">{{if .Code}}<code>{{.Text}}</code>{{else}}{{.Text}}{{end}}</a>{{else if .Code}}<code>{{.Text}}</code>{{else}}{{.Text}}{{end}}{{end}}`

const pmCSS = `
:root { --ink: #1f2328; --muted: #59636e; --line: #d0d7de; --soft: #f6f8fa; --bad: #b42318; --ok: #1a7f37; --accent: #0969da; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0 auto; max-width: 1100px; padding: 24px 28px 48px; color: var(--ink); background: #fff;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; }
h1 { font-size: 28px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 36px 0 10px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
.window { color: var(--muted); margin: 0 0 16px; }
.summary { background: var(--soft); border: 1px solid var(--line); border-radius: 10px; padding: 18px 20px 8px; }
.summary p { margin: 0 0 10px; font-size: 16px; }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(190px, 1fr)); gap: 12px; margin-bottom: 16px; }
.figure { background: #fff; border: 1px solid var(--line); border-left: 5px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.figure.bad { border-left-color: var(--bad); }
.figure.ok { border-left-color: var(--ok); }
.figure .label { color: var(--muted); font-size: 13px; text-transform: uppercase; letter-spacing: .04em; }
.figure .value { font-size: 26px; font-weight: 650; font-variant-numeric: tabular-nums; }
.figure.bad .value { color: var(--bad); }
.figure.ok .value { color: var(--ok); }
.figure .note { color: var(--muted); font-size: 13px; }
nav ol { display: flex; flex-wrap: wrap; gap: 6px 18px; list-style: none; padding: 0; margin: 18px 0 0; }
nav a, a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
figure.chart { margin: 14px 0 18px; border: 1px solid var(--line); border-radius: 8px; padding: 6px; background: #fff; }
figure.chart svg { display: block; width: 100%; height: auto; }
.table-wrap { overflow-x: auto; margin: 10px 0 18px; }
table { border-collapse: collapse; font-size: 13.5px; font-variant-numeric: tabular-nums; min-width: 50%; }
caption { text-align: left; font-weight: 600; padding: 4px 0 6px; }
th, td { padding: 5px 9px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th, td.num { white-space: nowrap; }
td { max-width: 380px; overflow-wrap: break-word; }
th { background: var(--soft); font-weight: 600; cursor: pointer; user-select: none; position: relative; }
th.num, td.num { text-align: right; }
th::after { content: "⇅"; color: #aab2bb; font-size: 11px; margin-left: 5px; }
th[aria-sort="ascending"]::after { content: "▲"; color: var(--ink); }
th[aria-sort="descending"]::after { content: "▼"; color: var(--ink); }
th:focus-visible { outline: 2px solid var(--accent); outline-offset: -2px; }
tbody tr:hover { background: #f3f6fa; }
code { font: 12.5px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: var(--soft); padding: 1px 4px; border-radius: 4px; }
ol.traces { padding-left: 22px; }
.verdict { font-weight: 650; font-size: 17px; }
.verdict.fail { color: var(--bad); }
.verdict.pass { color: var(--ok); }
footer { margin-top: 40px; color: var(--muted); font-size: 12.5px; border-top: 1px solid var(--line); padding-top: 10px; }
@media print {
  @page { margin: 14mm 12mm; }
  body { max-width: none; padding: 0; font-size: 10.5pt; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  nav { display: none; }
  h2 { break-after: avoid; margin-top: 20px; }
  figure.chart, table, .summary, .figures { break-inside: avoid; }
  .figures { grid-template-columns: repeat(auto-fit, minmax(140px, 1fr)); }
  .table-wrap { overflow: visible; }
  th::after { content: none; }
  th { cursor: auto; }
  td { max-width: none; white-space: normal; }
  table { font-size: 8.5pt; }
  a { color: var(--ink); }
  ol.traces a::after { content: " — " attr(href); color: var(--muted); font-size: 8pt; word-break: break-all; }
}
`

const pmJS = `
(function () {
  "use strict";
  function key(cell, numeric) {
    if (numeric) {
      var v = parseFloat(cell.getAttribute("data-sort"));
      return isNaN(v) ? -Infinity : v;
    }
    return cell.textContent.trim().toLowerCase();
  }
  function sortBy(table, col, th) {
    var numeric = th.getAttribute("data-type") === "num";
    var cur = th.getAttribute("aria-sort");
    var dir = cur ? (cur === "ascending" ? "descending" : "ascending") : (numeric ? "descending" : "ascending");
    var heads = table.tHead.rows[0].cells;
    for (var i = 0; i < heads.length; i++) heads[i].removeAttribute("aria-sort");
    th.setAttribute("aria-sort", dir);
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.forEach(function (r, i) { r.setAttribute("data-order", i); });
    rows.sort(function (a, b) {
      var x = key(a.cells[col], numeric), y = key(b.cells[col], numeric);
      var c = x < y ? -1 : x > y ? 1 : 0;
      if (dir === "descending") c = -c;
      return c || (a.getAttribute("data-order") - b.getAttribute("data-order"));
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  var tables = document.querySelectorAll("table.sortable");
  Array.prototype.forEach.call(tables, function (table) {
    if (!table.tHead || !table.tBodies.length) return;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.tabIndex = 0;
      th.title = "Sort by " + th.textContent;
      th.addEventListener("click", function () { sortBy(table, col, th); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(table, col, th); }
      });
    });
  });
})();
`
