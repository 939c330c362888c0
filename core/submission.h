#pragma once

#include "scriptloader.h"
#include "taskdependency.h"
#include "tasksource.h"
#include "taskspec.h"

#include <QList>
#include <QStringList>

class Engine;

// What a submission asks of every script beyond its own directives: the submit-time
// overrides (CLI options, socket fields) and how many tasks each script becomes.
struct SubmissionOptions
{
    SubmitOverrides overrides;
    int repeat = 1;                 // tasks per script, at least 1
    DependencyOptions dependencies; // --after, --after-ended, --chain (in submission order)
};

// The one way paths become tasks, for every door: a drop or File > Open on the window,
// Retry failed, `taskdeck FILE...` handed over, `taskdeck submit` and `taskdeck run`.
// load() reads the paths (folders expanded) into specs and one-line rejections; queueOn()
// queues every spec at once, so that no task starts before the last is queued and
// priorities order the whole submission. A value; load() reads files, so call it where
// blocking on the disk is acceptable. No thread of its own.
class Submission
{
public:
    struct Entry
    {
        TaskSpec spec;  // the script's directives with the overrides applied
        int copies = 1; // tasks made from it (the repeat count)
        int input = 0;  // index in load()'s paths of the path (or folder) it came from
    };

    // Reads `paths` in order. A folder stands for the files in it and in its subfolders
    // (not hidden ones, nor folders reached through a symlink), in name order, a
    // subfolder's files where its name sorts; each file found is loaded as if named, so
    // a file that is not a task script is rejected, never skipped silently. A folder
    // with no file at all is rejected ("PATH: folder holds no files"), as is one that
    // cannot be read. A path named twice is read once (and rejected once) but gives its
    // tasks twice. Rejections are ScriptLoader's one-line `file:line: reason` texts,
    // with each file shown as named (a folder's files as the folder's path + name).
    static Submission load(const QStringList &paths, const SubmissionOptions &options = {});

    const QList<Entry> &entries() const { return m_entries; }
    const QStringList &rejections() const { return m_rejections; }
    bool isEmpty() const { return m_entries.isEmpty(); }
    // Tasks the entries make together (their copies summed).
    qint64 taskCount() const;

    // Queues every entry's copies in one Engine::submit: none starts before the last is
    // queued. Returns their ids in entry order, an entry's copies consecutive; nothing
    // is queued (and no id returned) when there is no entry, or when the engine refused
    // the dependencies (`refusal` says why).
    QList<TaskId> queueOn(Engine &engine, QString *refusal = nullptr) const;
    // The same through a task source (the dashboard, the instance service): `done` gets
    // the ids once the source has queued them; `refused` (with no call of `done`) why it
    // refused the submission's dependencies.
    void queueOn(TaskSource &source, QObject *context = nullptr, TaskSource::Submitted done = {},
                 std::function<void(const QString &)> refused = {}) const;
    const DependencyOptions &dependencies() const { return m_dependencies; }
    // Every entry as (spec, copies), in order: what Engine/TaskSource::submit take.
    QList<std::pair<TaskSpec, int>> specsAndCopies() const;

    // The files a folder stands for, as load() expands it (name order, recursively);
    // `unreadable` gets the subfolders (of `folder` included) that could not be listed.
    static QStringList filesIn(const QString &folder, QStringList *unreadable = nullptr);

private:
    QList<Entry> m_entries;
    QStringList m_rejections;
    DependencyOptions m_dependencies;
};
