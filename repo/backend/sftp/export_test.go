package sftp

// SSHPid is the id of the running ssh process (0 if none), for tests that
// kill it.
func (s *SFTP) SSHPid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil || s.conn.cmd.Process == nil {
		return 0
	}
	return s.conn.cmd.Process.Pid
}
