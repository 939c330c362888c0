#include "instanceservice.h"

#include "engine.h"
#include "store/taskstore.h"
#include "submission.h"
#include "taskjson.h"

#include <QJsonArray>
#include <QSet>

InstanceService::InstanceService(Engine *engine, TaskStore *store, OpenFiles openFiles)
    : m_engine(engine)
    , m_store(store)
    , m_openFiles(std::move(openFiles))
{
}

QJsonObject InstanceService::handle(const InstanceProtocol::Request &request)
{
    switch (request.command) {
    case InstanceProtocol::Command::Open:
        return open(request);
    case InstanceProtocol::Command::Submit:
        return submit(request);
    case InstanceProtocol::Command::Ps:
        return ps(request);
    case InstanceProtocol::Command::Cancel:
        return cancel(request);
    }
    return InstanceProtocol::error(QStringLiteral("unknown command"));
}

QString InstanceService::commit()
{
    // Requests reach the engine thread in order: once this query is answered, the
    // submissions before it have been handed to the journal.
    m_engine->liveCounts();
    QString problem;
    if (m_store && !m_store->sync(&problem) && problem.isEmpty())
        problem = QStringLiteral("cannot write the task store");
    return problem;
}

QJsonObject InstanceService::open(const InstanceProtocol::Request &request)
{
    // The window, brought to the front, shows a store that cannot write; the reply tells
    // it too, for the command that handed the files over.
    const int queued = m_openFiles(request.files);
    QJsonObject reply{{QStringLiteral("queued"), queued},
                      {QStringLiteral("saved"), m_store != nullptr}};
    if (queued > 0 && m_store) {
        if (const QString problem = commit(); !problem.isEmpty()) {
            reply.insert(QStringLiteral("saved"), false);
            reply.insert(QStringLiteral("warning"), problem);
        }
    }
    return InstanceProtocol::ok(reply);
}

QJsonObject InstanceService::submit(const InstanceProtocol::Request &request)
{
    // Every file loaded first (folders expanded, as a drop on the window does), then
    // queued at once: the first file's tasks do not start before a later file (of a
    // higher priority, say) is queued.
    const Submission submission =
        Submission::load(request.files, SubmissionOptions{request.overrides, request.repeat});
    if (submission.taskCount() > InstanceProtocol::MaxTasksPerSubmit)
        return InstanceProtocol::error(QStringLiteral("at most %1 tasks per submit, not %2")
                                           .arg(InstanceProtocol::MaxTasksPerSubmit)
                                           .arg(submission.taskCount()));
    const QList<TaskId> queued = submission.queueOn(*m_engine);
    const QJsonArray rejected = QJsonArray::fromStringList(submission.rejections());
    QJsonArray ids;
    QJsonArray submitted;
    qsizetype next = 0;
    for (const Submission::Entry &entry : submission.entries()) {
        QJsonArray fileIds;
        for (int i = 0; i < entry.copies; ++i, ++next) {
            fileIds.append(qint64(queued[next]));
            ids.append(qint64(queued[next]));
        }
        submitted.append(QJsonObject{{QStringLiteral("file"), entry.spec.file},
                                     {QStringLiteral("name"), entry.spec.name},
                                     {QStringLiteral("ids"), fileIds}});
    }
    QJsonObject reply{{QStringLiteral("ids"), ids},
                      {QStringLiteral("submitted"), submitted},
                      {QStringLiteral("rejected"), rejected},
                      {QStringLiteral("saved"), m_store != nullptr}};
    if (!m_store) {
        reply.insert(QStringLiteral("warning"),
                     QStringLiteral("the running Taskdeck has no task store (see its window "
                                    "for why)"));
        return InstanceProtocol::ok(reply);
    }
    if (ids.isEmpty())
        return InstanceProtocol::ok(reply);
    // The tasks are queued whatever the store says: they run, and the store keeps trying
    // to write them; the error tells the client they are not safe across a restart.
    if (const QString problem = commit(); !problem.isEmpty()) {
        reply.insert(QStringLiteral("saved"), false);
        QJsonObject error = InstanceProtocol::error(problem);
        for (auto it = reply.constBegin(); it != reply.constEnd(); ++it)
            error.insert(it.key(), it.value());
        return error;
    }
    return InstanceProtocol::ok(reply);
}

QJsonObject InstanceService::ps(const InstanceProtocol::Request &request) const
{
    const QList<TaskSnapshot> snapshots = m_engine->tasks();
    // Stacks and wait reasons in one look-up each, not one per task.
    QList<TaskId> running;
    QList<TaskId> pending;
    if (request.stacks) {
        for (const TaskSnapshot &task : snapshots) {
            if (task.state == TaskState::Running)
                running.append(task.id);
            else if (task.state == TaskState::Pending)
                pending.append(task.id);
        }
    }
    const QList<std::shared_ptr<const CoroutineStack>> stacks =
        running.isEmpty() ? QList<std::shared_ptr<const CoroutineStack>>()
                          : m_engine->liveStacks(running);
    const QStringList reasons = pending.isEmpty() ? QStringList() : m_engine->waitReasons(pending);
    qsizetype nextRunning = 0;
    qsizetype nextPending = 0;
    QJsonArray tasks;
    for (const TaskSnapshot &task : snapshots) {
        QJsonObject object = TaskJson::task(task);
        object.insert(QStringLiteral("priority"), task.priority);
        object.insert(QStringLiteral("group"), task.group);
        object.insert(QStringLiteral("progress"),
                      task.progress < 0 ? QJsonValue(QJsonValue::Null) : QJsonValue(task.progress));
        if (request.stacks) {
            if (task.state == TaskState::Running) {
                const auto &stack = stacks[nextRunning++];
                object.insert(QStringLiteral("stack"), stack ? QJsonValue(TaskJson::stack(*stack))
                                                             : QJsonValue(QJsonValue::Null));
            } else if (task.state == TaskState::Pending) {
                object.insert(QStringLiteral("waiting"), reasons[nextPending++]);
            } else if (task.stack) { // an ended task's final stack, also when it succeeded
                object.insert(QStringLiteral("stack"), TaskJson::stack(*task.stack));
            }
        }
        tasks.append(object);
    }
    return InstanceProtocol::ok({{QStringLiteral("tasks"), tasks}});
}

QJsonObject InstanceService::cancel(const InstanceProtocol::Request &request)
{
    QJsonArray cancelled;
    QJsonArray finished;
    QJsonArray unknown;
    QList<TaskId> asked; // each once, in the order given
    QSet<TaskId> seen;
    for (TaskId id : request.ids) {
        if (!seen.contains(id)) {
            seen.insert(id);
            asked.append(id);
        }
    }
    QList<TaskId> toCancel;
    const QList<std::optional<TaskSnapshot>> tasks = m_engine->tasks(asked);
    for (qsizetype i = 0; i < asked.size(); ++i) {
        const TaskId id = asked[i];
        const std::optional<TaskSnapshot> &task = tasks[i];
        if (!task) {
            unknown.append(qint64(id));
        } else if (isFinished(task->state)) {
            finished.append(QJsonObject{{QStringLiteral("id"), qint64(id)},
                                        {QStringLiteral("state"), taskStateName(task->state)}});
        } else {
            toCancel.append(id);
            cancelled.append(qint64(id));
        }
    }
    if (!toCancel.isEmpty())
        m_engine->cancel(toCancel);
    return InstanceProtocol::ok({{QStringLiteral("cancelled"), cancelled},
                                 {QStringLiteral("finished"), finished},
                                 {QStringLiteral("unknown"), unknown}});
}
