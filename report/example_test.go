package report_test

import (
	"bytes"
	"fmt"
	"os"
	"time"

	"github.com/cleanroomhq/cleanroom/report"
)

func ExampleWriteJUnit() {
	start := time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
	r := &report.Run{
		Cleanroom: "v0.1.0",
		Suites: []*report.Suite{{
			Name: "users", File: "users.cleanroom.toml", Seed: 42, Status: report.Failed,
			Started: start, DurationMS: 1500,
			Scenarios: []*report.Scenario{{
				Name: "create user", Status: report.Failed, DurationMS: 20,
				Steps: []*report.Step{{
					Name: "insert", Kind: "sql", Service: "db", Status: report.Failed, DurationMS: 12,
					Failures: []*report.Failure{{Check: "rows", Expected: "[[1]]", Got: "[[2]]", Pos: "users.cleanroom.toml:9:10"}},
				}},
			}},
		}},
	}
	r.Tally()
	if err := report.WriteJUnit(os.Stdout, r); err != nil {
		fmt.Println(err)
	}
	// Output:
	// <?xml version="1.0" encoding="UTF-8"?>
	// <testsuites name="cleanroom" tests="1" failures="1" errors="0" time="0.000">
	//   <testsuite name="users" tests="1" failures="1" errors="0" skipped="0" time="1.500" timestamp="2025-06-01T10:00:00">
	//     <properties>
	//       <property name="file" value="users.cleanroom.toml"></property>
	//       <property name="seed" value="42"></property>
	//       <property name="cleanroom_version" value="v0.1.0"></property>
	//     </properties>
	//     <testcase name="create user" classname="users" time="0.020">
	//       <failure message="step &#34;insert&#34;: rows: expected [[1]], got [[2]]" type="expectation"><![CDATA[step 1 "insert" failed
	//   rows at users.cleanroom.toml:9:10
	//     expected: [[1]]
	//     got: [[2]]
	// ]]></failure>
	//       <system-out><![CDATA[[failed] step 1 "insert" (sql on db) in 12.0ms
	//   failed expectations: 1
	// ]]></system-out>
	//     </testcase>
	//   </testsuite>
	// </testsuites>
}

func ExampleReadJSON() {
	var buf bytes.Buffer
	r := &report.Run{Suites: []*report.Suite{{Name: "users", Scenarios: []*report.Scenario{
		{Name: "a", Status: report.Passed},
		{Name: "b", Status: report.Skipped},
	}}}}
	r.Tally()
	if err := report.WriteJSON(&buf, r); err != nil {
		fmt.Println(err)
		return
	}
	back, err := report.ReadJSON(&buf)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s %s: %d passed, %d skipped\n", back.Schema, back.Status, back.Summary.Passed, back.Summary.Skipped)

	_, err = report.ReadJSON(bytes.NewReader([]byte(`{"schema": "cleanroom.report/v9"}`)))
	fmt.Println(err)
	// Output:
	// cleanroom.report/v1 passed: 1 passed, 1 skipped
	// report: unsupported schema "cleanroom.report/v9": this cleanroom reads "cleanroom.report/v1"
}
