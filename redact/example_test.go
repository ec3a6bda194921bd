package redact_test

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/cleanroomhq/cleanroom/redact"
	"github.com/cleanroomhq/cleanroom/report"
)

func ExampleNew() {
	r, err := redact.New([]string{"p@ss"}, []string{`ghp_[A-Za-z0-9]{36}`})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.String("postgres://app:p%40ss@db:5432/app"))
	fmt.Println(r.String("GITHUB_TOKEN=ghp_" + strings.Repeat("x", 36)))

	_, err = redact.New(nil, []string{`token=\w+`, `\w*`})
	fmt.Println(err)
	// Output:
	// postgres://app:[REDACTED]@db:5432/app
	// GITHUB_TOKEN=[REDACTED]
	// redact: pattern "\\w*": it can match the empty string, which would insert [REDACTED] between characters
}

func ExampleRedactor_String() {
	r, _ := redact.New([]string{`s3cr"t`}, nil)
	fmt.Println(r.String(`password=s3cr"t`))
	fmt.Println(r.String(`{"password":"s3cr\"t"}`))
	fmt.Println(r.String(`postgres://app:s3cr%22t@db/app`))
	fmt.Println(r.String("Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(`s3cr"t`))))
	fmt.Println(r.String("nothing secret"))
	// Output:
	// password=[REDACTED]
	// {"password":"[REDACTED]"}
	// postgres://app:[REDACTED]@db/app
	// Authorization: Basic [REDACTED]
	// nothing secret
}

func ExampleRedactor_Walk() {
	r, _ := redact.New([]string{"hunter2"}, nil)
	step := &report.Step{
		Name:  "login",
		Error: "bad password hunter2",
		Output: &report.Output{
			Rows:    [][]any{{int64(1), "hunter2"}},
			Headers: map[string]string{"X-Token": "hunter2"},
		},
	}
	r.Walk(step)
	fmt.Println(step.Error)
	fmt.Println(step.Output.Rows)
	fmt.Println(step.Output.Headers)
	// Output:
	// bad password [REDACTED]
	// [[1 [REDACTED]]]
	// map[X-Token:[REDACTED]]
}
