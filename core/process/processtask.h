#pragma once

#include "../taskrun.h"
#include "../timerheap.h"
#include "childprocess.h"
#include "linesplitter.h"
#include "processreactor.h"

#include <deque>
#include <memory>
#include <optional>

// One attempt of a process task (SPEC section 3): the script run as a ChildProcess in a
// process group of its own, its stdout and stderr read into the task log, its group
// signalled on cancel (SIGTERM) and stop (SIGKILL). Created, driven and destroyed on the
// engine thread; its pipes and pidfd are watched by the thread's ProcessReactor.
//
// The run reports runFinished() once the leader has been reaped AND no live process is
// left in its group: when the leader exits, whatever it left in the group is SIGKILLed,
// and the concurrency slot is held until those processes are gone. Processes that left
// the group (setsid) are signalled too on cancel and stop, and SIGKILLed when the leader
// exits, even once orphaned: the engine is a child subreaper and finds them by the marker
// ChildProcess puts in their environment (see childprocess.h).
//
// Its stack (liveStack(), and RunOutcome::stack when it did not succeed: the tree when
// it was cancelled or, for a failure, when the leader exited) is its process tree, one
// CoroutineStack per process:
//   id               the pid
//   frames           one frame: file = the command line, line = the pid,
//                    function = "pid 4711 sleep, running 3.2s" (the name from comm)
//   awaiting         "process sleeping", "process running", "process stopped"...
//   awaitingSinceMs  when the process started (epoch ms), so viewers show its age
//   children         its child processes; group members whose parent has gone
//                    (reparented) hang under the leader.
class ProcessTask final : public TaskRun, private ProcessReactor::Client
{
public:
    ProcessTask(TaskId id, std::shared_ptr<const TaskSpec> spec, int attempt,
                const RunServices &services);
    ~ProcessTask() override;

    void start() override;
    void cancel() override;
    void stop() override;
    std::shared_ptr<const CoroutineStack> liveStack() const override;

    // The error message keeps this much of the end of stderr.
    static constexpr int StderrTailLines = 20;
    static constexpr qsizetype StderrTailChars = 2048;

private:
    enum Tag { StdoutTag, StderrTag, PidTag };

    // ProcessReactor::Client
    void fdReady(int tag, quint32 events) override;
    void wakeDone() override;

    void readOutput(Tag tag, qsizetype budget);
    void closeOutput(Tag tag);
    void keepStderrTail(qsizetype firstNewLine);
    void leaderExited();
    void checkGroup();
    void finish();
    void fail(const QString &error);
    void flushLog();
    void signalTree(int sig);

    TaskId m_id;
    std::shared_ptr<const TaskSpec> m_spec;
    RunServices m_services;
    std::shared_ptr<ProcessReactor> m_reactor;
    ProcessReactor::ClientId m_client = 0;
    ChildProcess m_child;
    LineSplitter m_stdoutLines;
    LineSplitter m_stderrLines;
    QStringList m_newLines;           // handed to runLog() at the end of each wake-up
    std::deque<QString> m_stderrTail; // the last StderrTailLines lines of stderr
    std::optional<ChildProcess::Exit> m_exit;
    std::shared_ptr<const CoroutineStack> m_lastStack;
    TimerHeap::Id m_groupTimer = 0;
    qint64 m_groupWaitStartNs = 0;
    qint64 m_groupPollNs = 0;
    bool m_cancelled = false;
    bool m_stopped = false;
    bool m_finished = false;
};
