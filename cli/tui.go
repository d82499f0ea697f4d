package cli

import "errors"

// runTUI opens the terminal UI on env's connection.
func runTUI(env *Env) error {
	if !isTerminal(env.Stdout) {
		return errors.New("the terminal UI needs a terminal on stdout; for scripts use 'virtchain list --json'")
	}
	return errors.New("the terminal UI is not wired yet; use 'virtchain list'")
}
