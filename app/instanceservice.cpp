#include "instanceservice.h"

#include "submission.h"
#include "taskjson.h"
#include "tasksource.h"

#include <QCoreApplication>
#include <QJsonArray>
#include <QPointer>
#include <QSet>

namespace {

void sendOk(const InstanceService::Reply &reply, const QJsonObject &fields)
{
    reply(InstanceProtocol::line(InstanceProtocol::ok(fields)));
}

// The ps reply line for `listing` (a thread of the service's own: 100,000 tasks take
// a few hundred milliseconds).
QByteArray psLine(const TaskSource::Listing &listing, bool stacks)
{
    QJsonArray tasks;
    for (const TaskSnapshot &task : listing.tasks) {
        QJsonObject object = TaskJson::task(task);
        object.insert(QStringLiteral("priority"), task.priority);
        object.insert(QStringLiteral("group"), task.group);
        object.insert(QStringLiteral("progress"),
                      task.progress < 0 ? QJsonValue(QJsonValue::Null) : QJsonValue(task.progress));
        if (stacks) {
            if (task.state == TaskState::Running) {
                const auto stack = listing.stacks.value(task.id);
                object.insert(QStringLiteral("stack"), stack ? QJsonValue(TaskJson::stack(*stack))
                                                             : QJsonValue(QJsonValue::Null));
            } else if (task.state == TaskState::Pending) {
                object.insert(QStringLiteral("waiting"), listing.waitReasons.value(task.id));
            } else if (task.stack) { // an ended task's final stack, also when it succeeded
                object.insert(QStringLiteral("stack"), TaskJson::stack(*task.stack));
            }
        }
        tasks.append(object);
    }
    return InstanceProtocol::line(InstanceProtocol::ok({{QStringLiteral("tasks"), tasks}}));
}

} // namespace

InstanceService::InstanceService(TaskSource *source, OpenFiles openFiles, QObject *parent)
    : QObject(parent)
    , m_source(source)
    , m_openFiles(std::move(openFiles))
{
}

InstanceService::~InstanceService()
{
    m_builders.waitForDone();
}

void InstanceService::handle(const InstanceProtocol::Request &request, Reply reply)
{
    switch (request.command) {
    case InstanceProtocol::Command::Open:
        return open(request, std::move(reply));
    case InstanceProtocol::Command::Submit:
        return submit(request, std::move(reply));
    case InstanceProtocol::Command::Ps:
        return ps(request, std::move(reply));
    case InstanceProtocol::Command::Cancel:
        return cancel(request, std::move(reply));
    }
    reply(InstanceProtocol::line(InstanceProtocol::error(QStringLiteral("unknown command"))));
}

void InstanceService::open(const InstanceProtocol::Request &request, Reply reply)
{
    // The window, brought to the front, shows a store that cannot write; the reply tells
    // it too, for the command that handed the files over.
    const int queued = m_openFiles(request.files);
    const bool kept = m_source->keepsTasks();
    QJsonObject fields{{QStringLiteral("queued"), queued}, {QStringLiteral("saved"), kept}};
    if (queued == 0 || !kept)
        return sendOk(reply, fields);
    m_source->commit(this, [fields, reply](const QString &problem) mutable {
        if (!problem.isEmpty()) {
            fields.insert(QStringLiteral("saved"), false);
            fields.insert(QStringLiteral("warning"), problem);
        }
        sendOk(reply, fields);
    });
}

void InstanceService::submit(const InstanceProtocol::Request &request, Reply reply)
{
    // Every file loaded first (folders expanded, as a drop on the window does), then
    // queued at once: the first file's tasks do not start before a later file (of a
    // higher priority, say) is queued.
    const Submission submission = Submission::load(
        request.files, SubmissionOptions{request.overrides, request.repeat, request.dependencies});
    if (submission.taskCount() > InstanceProtocol::MaxTasksPerSubmit)
        return reply(InstanceProtocol::line(
            InstanceProtocol::error(QStringLiteral("at most %1 tasks per submit, not %2")
                                        .arg(InstanceProtocol::MaxTasksPerSubmit)
                                        .arg(submission.taskCount()))));
    const QList<Submission::Entry> accepted = submission.entries();
    const QJsonArray rejected = QJsonArray::fromStringList(submission.rejections());
    const bool kept = m_source->keepsTasks();
    auto answer = [this, accepted, rejected, kept, reply](const QList<TaskId> &queued) {
        QJsonArray ids;
        QJsonArray submitted;
        qsizetype next = 0;
        for (const Submission::Entry &entry : accepted) {
            QJsonArray fileIds;
            for (int i = 0; i < entry.copies && next < queued.size(); ++i, ++next) {
                fileIds.append(qint64(queued[next]));
                ids.append(qint64(queued[next]));
            }
            submitted.append(QJsonObject{{QStringLiteral("file"), entry.spec.file},
                                         {QStringLiteral("name"), entry.spec.name},
                                         {QStringLiteral("ids"), fileIds}});
        }
        QJsonObject fields{{QStringLiteral("ids"), ids},
                           {QStringLiteral("submitted"), submitted},
                           {QStringLiteral("rejected"), rejected},
                           {QStringLiteral("saved"), kept}};
        if (!kept) {
            fields.insert(QStringLiteral("warning"),
                          QStringLiteral("the running Taskdeck has no task store (see its "
                                         "window for why)"));
            return sendOk(reply, fields);
        }
        if (ids.isEmpty())
            return sendOk(reply, fields);
        // The tasks are queued whatever the store says: they run, and the store keeps
        // trying to write them; the error tells the client they are not safe across a
        // restart.
        m_source->commit(this, [fields, reply](const QString &problem) mutable {
            if (problem.isEmpty())
                return sendOk(reply, fields);
            fields.insert(QStringLiteral("saved"), false);
            QJsonObject error = InstanceProtocol::error(problem);
            for (auto it = fields.constBegin(); it != fields.constEnd(); ++it)
                error.insert(it.key(), it.value());
            reply(InstanceProtocol::line(error));
        });
    };
    submission.queueOn(*m_source, this, answer, [reply](const QString &refusal) {
        reply(InstanceProtocol::line(InstanceProtocol::error(refusal)));
    });
}

void InstanceService::ps(const InstanceProtocol::Request &request, Reply reply)
{
    const bool stacks = request.stacks;
    m_source->list(stacks, this, [this, stacks, reply](const TaskSource::Listing &listing) {
        QPointer<InstanceService> alive(this);
        m_builders.start([listing, stacks, reply, alive] {
            QByteArray line = psLine(listing, stacks);
            QMetaObject::invokeMethod(
                QCoreApplication::instance(),
                [alive, reply, line = std::move(line)] {
                    if (alive)
                        reply(line);
                },
                Qt::QueuedConnection);
        });
    });
}

void InstanceService::cancel(const InstanceProtocol::Request &request, Reply reply)
{
    QList<TaskId> asked; // each once, in the order given
    QSet<TaskId> seen;
    for (TaskId id : request.ids) {
        if (!seen.contains(id)) {
            seen.insert(id);
            asked.append(id);
        }
    }
    m_source->lookUp(
        asked, this, [this, asked, reply](const QList<std::optional<TaskSnapshot>> &tasks) {
            QJsonArray cancelled;
            QJsonArray finished;
            QJsonArray unknown;
            QList<TaskId> toCancel;
            for (qsizetype i = 0; i < asked.size(); ++i) {
                const TaskId id = asked[i];
                const std::optional<TaskSnapshot> &task = tasks[i];
                if (!task) {
                    unknown.append(qint64(id));
                } else if (isFinished(task->state)) {
                    finished.append(
                        QJsonObject{{QStringLiteral("id"), qint64(id)},
                                    {QStringLiteral("state"), taskStateName(task->state)}});
                } else {
                    toCancel.append(id);
                    cancelled.append(qint64(id));
                }
            }
            if (!toCancel.isEmpty())
                m_source->cancel(toCancel);
            sendOk(reply, {{QStringLiteral("cancelled"), cancelled},
                           {QStringLiteral("finished"), finished},
                           {QStringLiteral("unknown"), unknown}});
        });
}
