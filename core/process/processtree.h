#pragma once

#include "../tasksnapshot.h"

#include <QByteArray>
#include <QStringList>

#include <memory>
#include <vector>

#include <sys/types.h>

// The processes of one process task as /proc shows them at one moment: its leader, the
// leader's descendants, and anything else left in the leader's process group. Read on
// demand by one walk over /proc/*/stat, never kept up to date. Any thread.
class ProcessTree
{
public:
    struct Process
    {
        pid_t pid = 0;
        pid_t ppid = 0;
        pid_t pgid = 0;
        pid_t sid = 0;
        char state = '?';      // as in /proc/pid/stat: R, S, D, Z, T...
        qint64 startTicks = 0; // clock ticks after boot
        qint64 cpuTicks = 0;   // user + system time, in clock ticks
        qint64 rssPages = 0;   // resident set size, in pages
        QByteArray name;       // /proc/pid/comm
    };

    static ProcessTree read(pid_t leader, pid_t pgid);
    // Whether a process other than a zombie is in group `pgid`.
    static bool groupHasLiveMembers(pid_t pgid);
    // Live descendants of this process whose environment holds the entry `marker`
    // ("NAME=VALUE"): with this process a child subreaper, every process a child started
    // and that inherited the marker, even one that left its group and was orphaned.
    // `exiting` gets the descendants whose environment cannot be read (exiting ones).
    static std::vector<Process> marked(const QByteArray &marker,
                                       std::vector<pid_t> *exiting = nullptr);
    // Zombie children of this process.
    static std::vector<Process> zombieChildren();

    const std::vector<Process> &processes() const { return m_processes; }
    // Live descendants of the leader that left its group (setsid, setpgid): a signal to
    // the group misses them.
    std::vector<pid_t> outsideGroup() const;
    // The tree as a stack of process nodes (StackNode::Kind::Process): the leader's, its
    // children's under it, and those of group members whose parent has gone. Each has its
    // pid, command line, name, state, CPU time, start and age. `leaderCommand` names the
    // leader when /proc no longer can (it exited, or was reaped: then the root is an
    // `exited` node holding what it left behind).
    std::shared_ptr<const StackNode> toStack(const QStringList &leaderCommand) const;

private:
    pid_t m_leader = 0;
    pid_t m_pgid = 0;
    std::vector<Process> m_processes; // the leader first when it is still there
};
