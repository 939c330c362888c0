#pragma once

#include "tasksnapshot.h"

#include <QList>
#include <QStringList>

#include <memory>

// The live stack of one running task, as the engine sampled it.
struct StackSample
{
    TaskId id = 0;
    std::shared_ptr<const CoroutineStack> stack;
};

// What a journal (the task store) is told, on the engine thread, in the order it
// happened: every submission as it is accepted, every published batch, and every second
// the live stacks of running tasks. Every call is per request, per batch or per second,
// never per task, and must return at once: a journal copies what it needs (the lists are
// implicitly shared) and writes elsewhere. The engine pushes; a journal never asks it.
class EngineJournal
{
public:
    // At most this many stacks per sampled() call; when more tasks run they take turns.
    static constexpr int MaxSampledStacks = 256;

    virtual ~EngineJournal() = default;
    // Tasks queued: ids[i] with specs[i], at queue sequence firstSequence + i.
    virtual void submitted(const QList<TaskId> &ids,
                           const QList<std::shared_ptr<const TaskSpec>> &specs,
                           qint64 firstSequence) = 0;
    // Tasks queued with dependencies: as submitted(), and dependencies[i] is what ids[i]
    // waits for. A journal that keeps dependencies writes both at once.
    virtual void submittedWithDependencies(const QList<TaskId> &ids,
                                           const QList<std::shared_ptr<const TaskSpec>> &specs,
                                           qint64 firstSequence,
                                           const QList<TaskDependencies> &dependencies)
    {
        submitted(ids, specs, firstSequence);
        dependenciesSet(ids, dependencies);
    }
    // What tasks already queued wait for now (Run after..., a re-run taking over from
    // an interrupted task): dependencies[i] replaces what ids[i] waited for.
    virtual void dependenciesSet(const QList<TaskId> &ids,
                                 const QList<TaskDependencies> &dependencies)
    {
        Q_UNUSED(ids);
        Q_UNUSED(dependencies);
    }
    virtual void published(const EngineUpdate &update) = 0;
    // Every second while tasks run: their live stacks, in one call (see MaxSampledStacks),
    // so that a task a crash interrupts can show where it was. A sampled task's start may
    // not be published yet.
    virtual void sampled(const QList<StackSample> &stacks) = 0;
    // False: the engine never samples stacks for this journal (it has no use for them).
    virtual bool wantsSamples() const { return true; }
};

// A task brought back from a journal: its definition and the state it was left in.
// Pending tasks are queued again in the order given, with their priority and attempt
// count; finished ones (interrupted included) are kept as they were, for the history.
struct RestoredTask
{
    std::shared_ptr<const TaskSpec> spec;
    TaskSnapshot snapshot; // id, state, priority, attempt, times, result, error, stack
    QStringList log;       // the tail of its log
};
