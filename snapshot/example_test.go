package snapshot_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/cleanroomhq/cleanroom/snapshot"
)

func ExampleNormalizer_String() {
	const session = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
	n := snapshot.NewNormalizer(
		snapshot.WithLiteral(session, "<SESSION>"),
		snapshot.WithLiteral("32771", "<PORT>"),
		snapshot.WithRules(snapshot.Rule{Match: regexp.MustCompile(`order #\d+`), Replace: "order #<ID>"}),
	)
	fmt.Println(n.String("2026-11-26T08:39:54.561Z session " + session + " listening on 127.0.0.1:32771"))
	fmt.Println(n.String("request 550e8400-e29b-41d4-a716-446655440000 for order #4711 took 15.2ms"))
	fmt.Println(n.String("container 3f4e5d6c7b8a exited; version 15.20 on 2026-11-26"))
	// Output:
	// <TIME> session <SESSION> listening on 127.0.0.1:<PORT>
	// request <UUID> for order #<ID> took <DURATION>
	// container <CONTAINER> exited; version 15.20 on 2026-11-26
}

func ExampleCanonical() {
	// SQL rows as pgx returns them, and a Redis map reply.
	rows := [][]any{{int64(1), "ada", nil}}
	reply := map[any]any{"role": "admin", "id": int64(7)}
	fmt.Print(snapshot.Canonical(rows))
	fmt.Print(snapshot.Canonical(reply))

	body, ok := snapshot.CanonicalJSON([]byte(`{"total": 2.50, "items": [{"sku": "b"}]}`))
	fmt.Print(body, ok, "\n")
	_, ok = snapshot.CanonicalJSON([]byte("<h1>hello</h1>"))
	fmt.Println(ok)
	// Output:
	// [
	//   [
	//     1,
	//     "ada",
	//     null
	//   ]
	// ]
	// {
	//   "id": 7,
	//   "role": "admin"
	// }
	// {
	//   "items": [
	//     {
	//       "sku": "b"
	//     }
	//   ],
	//   "total": 2.50
	// }
	// true
	// false
}

// How the runner checks a step's output: open the suite's file, check,
// save, and report.
func ExampleFile_Check() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	path := snapshot.PathFor(filepath.Join(dir, "users.cleanroom.toml"), "users")

	f, _ := snapshot.Open(path)
	n := snapshot.NewNormalizer()
	mode := snapshot.Mode{} // from snapshot.ModeFromEnv(updateFlag) in a real run

	fmt.Println(f.Check("greeting", n.String("hello at 2026-11-26T08:39:54Z\nbye\n"), mode).Status)
	fmt.Println(f.Check("greeting", n.String("hello at 2027-01-01T00:00:00Z\nbye\n"), mode).Status)
	res := f.Check("greeting", n.String("hello at 2027-01-01T00:00:00Z\nsee you\n"), mode)
	fmt.Println(res.Status)
	fmt.Print(res.Diff)
	fmt.Println(f.Check("farewell", "bye\n", snapshot.Mode{CI: true}).Status)
	if err := f.Save(); err != nil {
		fmt.Println(err)
	}
	data, _ := os.ReadFile(path)
	fmt.Printf("%s", data)
	// Output:
	// created
	// matched
	// mismatch
	// --- snapshot
	// +++ got
	// @@ -1,2 +1,2 @@
	//  hello at <TIME>
	// -bye
	// +see you
	// missing
	// # cleanroom snapshots: golden outputs of a suite's steps, one "=== name" entry each.
	// # Review changes like code. Update: cleanroom run --update-snapshots (or CLEANROOM_UPDATE_SNAPSHOTS=1).
	// # Format: go doc github.com/cleanroomhq/cleanroom/snapshot
	//
	// === greeting
	// | hello at <TIME>
	// | bye
}
