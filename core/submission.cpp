#include "submission.h"

#include "engine.h"

#include <QDir>
#include <QFileInfo>
#include <QHash>

#include <algorithm>
#include <optional>

namespace {

QString joined(const QString &folder, const QString &name)
{
    return folder.endsWith(u'/') ? folder + name : folder + u'/' + name;
}

// Appends the files under `folder` to `files` in name order, each subfolder's where its
// name sorts. Hidden entries are left out and symlinked folders not entered (no loops).
void collect(const QString &folder, QStringList &files, QStringList *unreadable)
{
    const QFileInfo info(folder);
    if (!info.isReadable() || !info.isExecutable()) {
        if (unreadable)
            unreadable->append(folder);
        return;
    }
    QFileInfoList entries =
        QDir(folder).entryInfoList(QDir::Files | QDir::Dirs | QDir::NoDotAndDotDot, QDir::Unsorted);
    std::sort(entries.begin(), entries.end(),
              [](const QFileInfo &a, const QFileInfo &b) { return a.fileName() < b.fileName(); });
    for (const QFileInfo &entry : std::as_const(entries)) {
        const QString path = joined(folder, entry.fileName());
        if (!entry.isDir())
            files.append(path);
        else if (!entry.isSymLink())
            collect(path, files, unreadable);
    }
}

} // namespace

QStringList Submission::filesIn(const QString &folder, QStringList *unreadable)
{
    QStringList files;
    collect(folder, files, unreadable);
    return files;
}

Submission Submission::load(const QStringList &paths, const SubmissionOptions &options)
{
    Submission submission;
    submission.m_dependencies = options.dependencies;
    // Each path read once: Retry failed names a script once per failed task.
    QHash<QString, std::optional<TaskSpec>> loaded;
    auto add = [&](const QString &file, int input) {
        auto it = loaded.constFind(file);
        if (it == loaded.constEnd()) {
            ScriptLoader::Result result = ScriptLoader::load(file);
            if (result.spec)
                options.overrides.applyTo(*result.spec);
            else
                submission.m_rejections.append(result.error);
            it = loaded.insert(file, std::move(result.spec));
        }
        if (*it)
            submission.m_entries.append(Entry{**it, options.repeat, input});
    };

    for (int input = 0; input < paths.size(); ++input) {
        const QString &path = paths[input];
        if (!QFileInfo(path).isDir()) {
            add(path, input);
            continue;
        }
        QStringList unreadable;
        const QStringList files = filesIn(path, &unreadable);
        for (const QString &folder : std::as_const(unreadable))
            submission.m_rejections.append(QStringLiteral("%1: cannot read folder").arg(folder));
        if (files.isEmpty() && unreadable.isEmpty())
            submission.m_rejections.append(QStringLiteral("%1: folder holds no files").arg(path));
        for (const QString &file : files)
            add(file, input);
    }
    return submission;
}

qint64 Submission::taskCount() const
{
    qint64 count = 0;
    for (const Entry &entry : m_entries)
        count += entry.copies;
    return count;
}

QList<std::pair<TaskSpec, int>> Submission::specsAndCopies() const
{
    QList<std::pair<TaskSpec, int>> specs;
    specs.reserve(m_entries.size());
    for (const Entry &entry : m_entries)
        specs.append({entry.spec, entry.copies});
    return specs;
}

QList<TaskId> Submission::queueOn(Engine &engine, QString *refusal) const
{
    if (m_entries.isEmpty())
        return {};
    return engine.submit(specsAndCopies(), m_dependencies, refusal);
}

void Submission::queueOn(TaskSource &source, QObject *context, TaskSource::Submitted done,
                         std::function<void(const QString &)> refused) const
{
    if (m_entries.isEmpty()) {
        if (done)
            done({});
        return;
    }
    if (m_dependencies.isEmpty())
        return source.submit(specsAndCopies(), context, std::move(done));
    source.submitAfter(specsAndCopies(), m_dependencies, context,
                       [done = std::move(done), refused = std::move(refused)](
                           const QList<TaskId> &ids, const QString &refusal) {
                           if (!refusal.isEmpty()) {
                               if (refused)
                                   refused(refusal);
                           } else if (done) {
                               done(ids);
                           }
                       });
}
