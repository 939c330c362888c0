#pragma once

#include "tasksnapshot.h"

#include <QList>
#include <QStringList>

#include <memory>

// What a journal (the task store) is told, on the engine thread, in the order it
// happened: every submission as it is accepted and every published batch. Both calls
// are per request or per batch, never per task, and must return at once: a journal
// copies what it needs (the lists are implicitly shared) and writes elsewhere.
class EngineJournal
{
public:
    virtual ~EngineJournal() = default;
    // Tasks queued: ids[i] with specs[i], at queue sequence firstSequence + i.
    virtual void submitted(const QList<TaskId> &ids,
                           const QList<std::shared_ptr<const TaskSpec>> &specs,
                           qint64 firstSequence) = 0;
    virtual void published(const EngineUpdate &update) = 0;
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
