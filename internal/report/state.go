package report

import "strconv"

// Keys the main step saves with Sink.State and the post step reads back as
// STATE_<key>. Never the token: the post step gets it from its inputs again.
const (
	StateRunID      = "run_id"
	StateAPIURL     = "api_url"
	StateDropletID  = "droplet_id"
	StateKeyID      = "key_id"
	StateSnapshotID = "snapshot_id"
	StateBootKeyID  = "boot_key_id" // the boot test's own account key
	StateDone       = "done"        // "true" once the main step finished its own cleanup
)

// SavedState is what the post-entrypoint safety net finds of the main step.
type SavedState struct {
	RunID      string
	APIURL     string
	DropletID  int
	KeyID      int
	SnapshotID int
	BootKeyID  int
	Done       bool
}

// ReadState reads STATE_* variables as the runner passes them to the post step.
// IDs that do not parse are left 0: the post step then has nothing to delete there.
func ReadState(getenv func(string) string) SavedState {
	atoi := func(k string) int {
		n, err := strconv.Atoi(getenv("STATE_" + k))
		if err != nil {
			return 0
		}
		return n
	}
	return SavedState{
		RunID:      getenv("STATE_" + StateRunID),
		APIURL:     getenv("STATE_" + StateAPIURL),
		DropletID:  atoi(StateDropletID),
		KeyID:      atoi(StateKeyID),
		SnapshotID: atoi(StateSnapshotID),
		BootKeyID:  atoi(StateBootKeyID),
		Done:       getenv("STATE_"+StateDone) == "true",
	}
}
