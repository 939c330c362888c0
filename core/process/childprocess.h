#pragma once

#include <QByteArray>
#include <QList>
#include <QString>
#include <QStringList>

#include <optional>
#include <utility>
#include <vector>

#include <sys/types.h>

// A child process started for a process task: the leader of a process group of its own
// (its pid is the group id), with stdin on /dev/null, a pidfd, and non-blocking read
// ends of its stdout and stderr pipes. Used on one thread (the engine thread).
//
// Its descendants carry TASKDECK_SCOPE=<unique> in their environment, and the engine's
// process is a child subreaper (set at the first start()): a process that escaped the
// group (setsid) and was orphaned is re-parented to us, not to init, so killEscaped()
// still finds it through /proc and ends it, and reapOrphans() collects its exit. Only
// a process that clears its environment and escapes is out of reach.
//
// The leader is reaped only through reap(), after its exit was seen with peekExit():
// until then its zombie keeps the group id reserved, so signalGroup() can never reach
// an unrelated group that reused the number. Destroying a ChildProcess whose leader is
// unreaped kills the whole group and reaps the leader.
class ChildProcess
{
public:
    struct Options
    {
        QStringList command; // argv; argv[0] without a '/' is looked up in PATH
        QString workingDirectory;
        QList<std::pair<QByteArray, QByteArray>> environment; // set over the inherited one
        qint64 memoryBytes = 0;                               // RLIMIT_AS; 0: none
        int stdinFd = -1;                                     // dup'ed to the child's fd 0
    };

    struct Exit
    {
        bool exited = false; // false: killed by `signal`
        int code = 0;
        int signal = 0;
        bool coreDumped = false;

        bool succeeded() const { return exited && code == 0; }
        // "exit code 3", "killed by signal SIGKILL (9)"
        QString toString() const;
    };

    ChildProcess() = default;
    ~ChildProcess();
    ChildProcess(const ChildProcess &) = delete;
    ChildProcess &operator=(const ChildProcess &) = delete;

    // Starts the child (clone with CLONE_VFORK: returns once it has exec'ed). On
    // failure returns a one-line message naming the command, and nothing is left running.
    QString start(const Options &options);

    pid_t pid() const { return m_pid; }
    int pidFd() const { return m_pidFd; }
    int stdoutFd() const { return m_stdout; }
    int stderrFd() const { return m_stderr; }
    bool isStarted() const { return m_pid > 0; }
    bool isReaped() const { return m_reaped; }
    // Monotonic start time (steadyNowNs()).
    qint64 startedAtNs() const { return m_startedAtNs; }

    // kill(-pgid, sig) while the leader is unreaped; a no-op afterwards.
    void signalGroup(int sig);
    // Sends `sig` to every live process this child started that left its group, wherever
    // it went (its parent died): found by the marker in its environment. Skips the pids
    // in `signalled`.
    void signalEscaped(int sig, const std::vector<pid_t> &signalled = {});
    // SIGKILLs those, waits briefly for them to die and reaps the ones orphaned to us.
    void killEscaped();
    // Reaps processes that were orphaned to this process (a child subreaper) and have
    // exited, never a leader of a ChildProcess, whose exit its owner reads.
    static void reapOrphans();
    // The leader's exit status, leaving it a zombie; nullopt while it runs.
    std::optional<Exit> peekExit();
    // Reaps the exited leader and closes the pidfd.
    void reap();
    void closeStdout();
    void closeStderr();

private:
    pid_t m_pid = -1;
    int m_pidFd = -1;
    int m_stdout = -1;
    int m_stderr = -1;
    bool m_reaped = false;
    qint64 m_startedAtNs = 0;
    QByteArray m_marker;          // "TASKDECK_SCOPE=<our pid>.<n>", in the environment of the child
    bool m_escapedKilled = false; // killEscaped() ran (after the exit: nothing to redo)
};
