package sftp

import "strings"

// ssh's environment is snap's without its secrets: ssh passes its
// environment on to a ProxyCommand, to the program SNAP_SSH_COMMAND
// names, and to the server (SendEnv in ssh_config), none of which needs
// the repository's password or another store's credentials. The rest
// stays: ssh needs HOME, PATH, SSH_AUTH_SOCK (the agent), KRB5CCNAME,
// AWS_PROFILE (an SSM ProxyCommand), the locale.

// secretVars are the variables snap itself reads secrets from.
var secretVars = map[string]bool{
	"AWS_ACCESS_KEY_ID":     true,
	"AWS_SECRET_ACCESS_KEY": true,
	"AWS_SESSION_TOKEN":     true,
	"AWS_SECURITY_TOKEN":    true,
}

// secretWords mark any other variable whose value looks secret by its
// name: SNAP_PASSWORD, SNAP_NEW_PASSWORD, SNAP_TO_PASSWORD, a
// GITHUB_TOKEN, an APP_SECRET... (a *_PASSWORD_FILE too, which ssh does
// not need either).
var secretWords = []string{"PASSWORD", "PASSWD", "PASSPHRASE", "SECRET", "TOKEN"}

// sshEnv returns env (KEY=VALUE entries) without the secret-looking ones.
func sshEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if !secretName(name) {
			out = append(out, kv)
		}
	}
	return out
}

func secretName(name string) bool {
	up := strings.ToUpper(name)
	if secretVars[up] {
		return true
	}
	for _, w := range secretWords {
		if strings.Contains(up, w) {
			return true
		}
	}
	return false
}
