package cleanroom_test

import "github.com/cleanroomhq/cleanroom/backend"

func backendExec(argv ...string) backend.ExecSpec { return backend.ExecSpec{Cmd: argv} }
