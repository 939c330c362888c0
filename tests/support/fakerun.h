#pragma once

#include "runfactory.h"

#include <QHash>
#include <QMutex>
#include <QSet>
#include <QStringList>

class FakeRun;

// A run kind the test drives, for scheduling tests without Lua (Engine::Options::
// runFactory). Each run starts and then waits: the test ends it with succeed() or fail(),
// or leaves it hanging. Like the real kinds it ends Cancelled soon after cancel() (unless
// told to ignore it) and after stop(). Every call a run gets is recorded.
//
// Thread ownership: the runs live on the engine thread; the factory's methods may be
// called from any thread (the test's): they hold m_mutex and reach a run by a queued call.
class FakeRunFactory final : public RunFactory
{
public:
    std::unique_ptr<TaskRun> create(TaskId id, std::shared_ptr<const TaskSpec> spec, int attempt,
                                    const RunServices &services) override;

    // End the live run of `id`; false when it has none.
    bool succeed(TaskId id);
    bool fail(TaskId id, const QString &error = QStringLiteral("failed by the test"));
    // The runs of `id` from now on ignore cancel(): only stop() ends them.
    void ignoreCancel(TaskId id);

    // Ids in the order their runs started, one entry per attempt.
    QList<TaskId> started() const;
    // What the runs of `id` were told, in order: "start 1", "cancel 1", "stop 1"...
    // (the number is the attempt).
    QStringList calls(TaskId id) const;

private:
    friend class FakeRun;
    bool finish(TaskId id, bool succeeded, const QString &error);

    mutable QMutex m_mutex;
    QHash<TaskId, FakeRun *> m_live; // started and not finished
    QList<TaskId> m_started;
    QHash<TaskId, QStringList> m_calls;
    QSet<TaskId> m_ignoreCancel;
};
