package report

import "testing"

func TestDuration(t *testing.T) {
	cases := map[float64]string{
		0: "0", 0.000_9: "0.9µs", 0.85: "850µs", 0.0123: "12.3µs",
		9.123: "9.12ms", 91.24: "91.2ms", 912.4: "912ms", 999.6: "1s", 0.9996: "1ms",
		1840: "1.84s", 12_345: "12.3s", 59_999: "60s", 245_000: "4m05s", 3_725_000: "1h02m",
	}
	for ms, want := range cases {
		if got := Duration(ms); got != want {
			t.Errorf("Duration(%v) = %q, want %q", ms, got, want)
		}
	}
}

func TestPercent(t *testing.T) {
	if got := Percent(0.6672); got != "66.7%" {
		t.Errorf("Percent = %q", got)
	}
}

func TestMarkdownEscape(t *testing.T) {
	for in, want := range map[string]string{
		"GET /a|b":        `GET /a\|b`,
		"classify_intent": `classify\_intent`,
		"<script>":        "&lt;script&gt;",
		"`abc`":           "`abc`",
		"line\nbreak":     "line break",
		"SELECT * FROM t": `SELECT \* FROM t`,
	} {
		if got := mdEscape(in); got != want {
			t.Errorf("mdEscape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMsNumber(t *testing.T) {
	for v, want := range map[float64]string{960.511: "960.511", 0: "0", 1e-3: "0.001", 12345678.9: "12345678.9"} {
		if got := msNumber(v); got != want {
			t.Errorf("msNumber(%v) = %q, want %q", v, got, want)
		}
	}
}
