package config

import "fmt"

// ResolveSecretEnv reads the values of the secret-env names from the tool's
// own environment: a value given on a command line would show in ps, which
// is what secret-env exists to avoid.
func ResolveSecretEnv(c *Config, getenv func(string) string) error {
	if len(c.SecretEnv) == 0 {
		return nil
	}
	c.SecretEnvValues = map[string]string{}
	for _, name := range c.SecretEnv {
		if !envName.MatchString(name) {
			return fmt.Errorf("secret-env %q is not an environment variable name: list names only (the values come from the environment)", name)
		}
		v := getenv(name)
		if v == "" {
			return fmt.Errorf("secret-env %s is not set in the environment: set it from a secret (for the action, in the step's env:)", name)
		}
		c.SecretEnvValues[name] = v
	}
	return nil
}
