package cron_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/amberrt/amber/stdlib/cron"
	"github.com/stretchr/testify/require"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestNext(t *testing.T) {
	cases := []struct {
		spec, from string
		want       []string // the next ticks, in order
	}{
		{"*/15 * * * *", "2024-05-01T10:07:30Z", []string{"2024-05-01T10:15:00Z", "2024-05-01T10:30:00Z", "2024-05-01T10:45:00Z", "2024-05-01T11:00:00Z"}},
		{"0 3 * * *", "2024-05-01T03:00:00Z", []string{"2024-05-02T03:00:00Z", "2024-05-03T03:00:00Z"}},
		{"30 9 * * MON-FRI", "2024-05-03T10:00:00Z", []string{"2024-05-06T09:30:00Z", "2024-05-07T09:30:00Z"}}, // Friday to Monday
		{"0 0 1,15 * *", "2024-05-02T00:00:00Z", []string{"2024-05-15T00:00:00Z", "2024-06-01T00:00:00Z"}},
		{"0 0 13 * 5", "2024-09-01T00:00:00Z", []string{"2024-09-06T00:00:00Z", "2024-09-13T00:00:00Z", "2024-09-20T00:00:00Z"}}, // Fridays or the 13th
		{"0 12 29 2 *", "2024-03-01T00:00:00Z", []string{"2028-02-29T12:00:00Z"}},
		{"0 0 * JAN,jul 7", "2024-06-30T00:00:00Z", []string{"2024-07-07T00:00:00Z", "2024-07-14T00:00:00Z"}},
		{"5-10/5 */12 * * *", "2024-05-01T00:00:00Z", []string{"2024-05-01T00:05:00Z", "2024-05-01T00:10:00Z", "2024-05-01T12:05:00Z"}},
		{"10/20 1 * * *", "2024-05-01T00:00:00Z", []string{"2024-05-01T01:10:00Z", "2024-05-01T01:30:00Z", "2024-05-01T01:50:00Z", "2024-05-02T01:10:00Z"}},
		{"@hourly", "2024-05-01T10:59:59Z", []string{"2024-05-01T11:00:00Z", "2024-05-01T12:00:00Z"}},
		{"@weekly", "2024-05-01T00:00:00Z", []string{"2024-05-05T00:00:00Z"}},
		{"@yearly", "2024-05-01T00:00:00Z", []string{"2025-01-01T00:00:00Z"}},
		{"@every 90m", "2024-05-01T00:10:00Z", []string{"2024-05-01T01:30:00Z", "2024-05-01T03:00:00Z"}},
		{"@every 1s", "2024-05-01T00:00:00.5Z", []string{"2024-05-01T00:00:01Z", "2024-05-01T00:00:02Z"}},
		// 02:30 in Paris does not exist on 2024-03-31 (02:00 jumps to 03:00).
		{"CRON_TZ=Europe/Paris 30 2 * * *", "2024-03-30T00:00:00Z", []string{"2024-03-30T01:30:00Z", "2024-04-01T00:30:00Z"}},
		// 02:30 in Paris happens twice on 2024-10-27 (03:00 goes back to 02:00): once here.
		{"TZ=Europe/Paris 30 2 * * *", "2024-10-26T12:00:00Z", []string{"2024-10-27T00:30:00Z", "2024-10-28T01:30:00Z"}},
		{"0 9 * * *", "2024-05-01T09:00:00.000000001Z", []string{"2024-05-02T09:00:00Z"}},
	}
	for _, c := range cases {
		s, err := cron.Parse(c.spec)
		require.NoError(t, err, c.spec)
		from := at(c.from)
		for _, w := range c.want {
			next := s.Next(from)
			require.Equal(t, at(w), next, "%s after %s", c.spec, from)
			require.Equal(t, time.UTC, next.Location())
			from = next
		}
	}
}

func TestNeverTicks(t *testing.T) {
	s, err := cron.Parse("0 0 30 2 *") // February 30
	require.NoError(t, err)
	require.True(t, s.Next(at("2024-01-01T00:00:00Z")).IsZero())
}

func TestParseErrors(t *testing.T) {
	for spec, msg := range map[string]string{
		"":                            "0 fields",
		"* * * *":                     "4 fields",
		"60 * * * *":                  `minute "60": "60" is not a minute in 0..59`,
		"* 24 * * *":                  `hour "24"`,
		"* * 0 * *":                   `day of month "0"`,
		"* * * 13 *":                  `month "13"`,
		"* * * * 8":                   `day of week "8"`,
		"5-1 * * * *":                 "range 5-1 is backwards",
		"*/0 * * * *":                 `step "0"`,
		"*/x * * * *":                 `step "x"`,
		"* * * FOO *":                 `"FOO" is not a month`,
		"@fortnightly":                "unknown descriptor @fortnightly",
		"@every 10ms":                 "the interval must be at least 1s",
		"@every soon":                 "invalid duration",
		"CRON_TZ=Mars/Base * * * * *": `unknown time zone "Mars/Base"`,
		"TZ=Local * * * * *":          `unknown time zone "Local"`,
		"1,,2 * * * *":                `minute "1,,2"`,
	} {
		_, err := cron.Parse(spec)
		require.ErrorIs(t, err, cron.ErrSpec, spec)
		require.ErrorContains(t, err, msg, spec)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"*/15 * * * *", "0 3 * * MON-FRI", "@every 90m", "CRON_TZ=Europe/Paris 30 2 * * *", "5-10/5 */12 1,15 JAN-MAR 7", "@daily"} {
		f.Add(s, int64(1714557600))
	}
	f.Fuzz(func(t *testing.T, spec string, unix int64) {
		s, err := cron.Parse(spec)
		if err != nil {
			return
		}
		from := time.Unix(unix%(1<<34), 0).UTC() // years 1425..2514
		for range 3 {
			next := s.Next(from)
			if next.IsZero() {
				return
			}
			if !next.After(from) {
				t.Fatalf("%q: Next(%s) = %s, not after", spec, from, next)
			}
			from = next
		}
	})
}

// The ticks of a schedule on weekday mornings, in Paris time.
func ExampleParse() {
	s, err := cron.Parse("CRON_TZ=Europe/Paris 30 9 * * MON-FRI")
	if err != nil {
		panic(err)
	}
	t := time.Date(2024, 5, 3, 12, 0, 0, 0, time.UTC) // a Friday
	for range 3 {
		t = s.Next(t)
		fmt.Println(t.Format(time.RFC3339), t.In(s.Location()).Format("Mon 15:04"))
	}
	// Output:
	// 2024-05-06T07:30:00Z Mon 09:30
	// 2024-05-07T07:30:00Z Tue 09:30
	// 2024-05-08T07:30:00Z Wed 09:30
}
