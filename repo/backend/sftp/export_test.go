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

// KillSSH kills the running ssh (SIGKILL) and waits until it has exited,
// as a connection dropped between two calls; it returns the process id.
func (s *SFTP) KillSSH() int {
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	if c == nil {
		return 0
	}
	c.kill()
	<-c.exited
	return c.cmd.Process.Pid
}
