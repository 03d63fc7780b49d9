package state

// Event codes (Event.Code, and the "code" field of log lines): a stable
// name for what went wrong or needs attention, for alerting rules and
// runbooks. E_ codes are failures, W_ codes warnings. Every code is listed
// in Codes and documented in website/docs/codes.md (a test keeps the
// three in step).
const (
	// CodeStepFailed: a step failed (step_finished), or a host failed and
	// was left in maintenance by on_failure "halt" (host_status).
	CodeStepFailed = "E_STEP_FAILED"
	// CodeCancelled: a step was cut short by Ctrl-C or a halt.
	CodeCancelled = "E_CANCELLED"
	// CodeInterrupted: the run stopped on Ctrl-C or a lost state backend,
	// not by a policy (run_halted).
	CodeInterrupted = "E_INTERRUPTED"
	// CodeHalted: a failure policy, a failed health gate or a VNF manager
	// stopped the run (run_halted).
	CodeHalted = "E_HALTED"
	// CodeAborted: an operator aborted the run (API or control file); it
	// halted at a step boundary (run_halted).
	CodeAborted = "E_ABORTED"
	// CodeCanaryPaused: the run paused after its canary wave as asked
	// (run_halted).
	CodeCanaryPaused = "W_CANARY_PAUSED"
	// CodeVNFMRefused: a host was not worked on because its VNF manager
	// refused the maintenance (NACK), or did not reply and its notify
	// block says on_timeout = "fail_host" (host_status, step_finished).
	CodeVNFMRefused = "E_VNFM_REFUSED"
	// CodeOwnAction: a VNF manager took an instance over (OWN_ACTION);
	// escalator waits for it to leave its host instead of migrating it.
	CodeOwnAction = "W_OWN_ACTION"
	// CodeStepSlow: a step runs past its expected duration (a third of
	// its hard timeout).
	CodeStepSlow = "W_STEP_SLOW"
	// CodeVNFMNoReply: a VNF manager did not reply (unreachable or late)
	// and its notify block says on_timeout = "proceed".
	CodeVNFMNoReply = "W_VNFM_NO_REPLY"
	// CodeDestinationRepicked: a migration to the plan's destination
	// failed and another destination was picked from the live cloud.
	CodeDestinationRepicked = "W_DESTINATION_REPICKED"
	// CodeNoBackup: rollback -restore found no backup of a component and
	// downgraded it instead.
	CodeNoBackup = "W_NO_BACKUP"
)

// Codes maps every code to a one-line meaning.
var Codes = map[string]string{
	CodeStepFailed:          "a step failed, or a host failed and was left in maintenance",
	CodeCancelled:           "a step was cut short by Ctrl-C or a halt",
	CodeInterrupted:         "the run stopped on Ctrl-C or an error outside the plan",
	CodeHalted:              "a failure policy, a health gate or a VNF manager stopped the run",
	CodeAborted:             "an operator aborted the run; it halted at a step boundary",
	CodeCanaryPaused:        "the run paused after its canary wave as asked",
	CodeVNFMRefused:         "a VNF manager refused the maintenance (or gave no reply, on_timeout = fail_host); its hosts were not touched",
	CodeOwnAction:           "a VNF manager moves an instance itself (OWN_ACTION)",
	CodeStepSlow:            "a step runs past its expected duration",
	CodeVNFMNoReply:         "a VNF manager gave no reply; the run proceeded",
	CodeDestinationRepicked: "a migration was retried to a destination picked from the live cloud",
	CodeNoBackup:            "rollback -restore downgraded a component that had no backup",
}
