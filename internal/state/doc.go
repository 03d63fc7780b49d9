// Package state is where an apply keeps what it has done: the journal of
// step events of each run, the state summary per host, and the lock that
// keeps two applies off one campaign.
//
// The journal is the source of truth. It is append-only and durable on
// return from Backend.AppendJournal, so a step that the journal says has
// finished was finished before the process could have crashed, and resume
// never redoes it. The State is a summary folded from the journals
// (State.Apply); it is written now and then for escalator status and for
// speed, and Load brings it up to date with the journal (or rebuilds it from
// the journals when it is missing).
//
// A Backend stores all three. Two implementations fit the interface:
// internal/state/local (files in a directory, the default) and a postgres
// backend (runs, journal and an advisory lock in PostgreSQL) that is yet to
// come. internal/state/statetest holds the conformance tests every backend
// must pass.
//
// Everything stored is JSON with a format_version. A backend refuses data of
// a format it does not know (*VersionError) and data it cannot read
// (*CorruptError), and never overwrites either: the operator decides, with
// the hint in the error.
package state
