#pragma once

#include "ipc/instanceserver.h"

#include <QJsonObject>
#include <QObject>
#include <QStringList>
#include <QThreadPool>

#include <functional>

class TaskSource;

// What the running dashboard answers on its instance socket (InstanceProtocol):
// `taskdeck FILE...` handed over, and the submit, ps and cancel commands, done through
// the task source. Nothing waits on the main thread: each reply is sent when the source
// has answered, and a `ps` reply is built on a thread of the service's own. Replies to a
// submit only once the source keeps the new tasks (the store has them on disk), so an
// acknowledged task survives a crash; when it cannot, the reply is an error (the tasks
// stay queued, unsaved), and a source that keeps nothing says they are not saved.
// Main thread.
class InstanceService : public QObject
{
public:
    // Submits files as a drop on the window does and brings the window to the front;
    // returns the number of tasks queued.
    using OpenFiles = std::function<int(const QStringList &files)>;
    using Reply = InstanceServer::Reply;

    InstanceService(TaskSource *source, OpenFiles openFiles, QObject *parent = nullptr);
    ~InstanceService() override;

    // Answers `request` through `reply`, now or once the source has answered.
    void handle(const InstanceProtocol::Request &request, Reply reply);

private:
    void open(const InstanceProtocol::Request &request, Reply reply);
    void submit(const InstanceProtocol::Request &request, Reply reply);
    void ps(const InstanceProtocol::Request &request, Reply reply);
    void cancel(const InstanceProtocol::Request &request, Reply reply);

    TaskSource *m_source;
    OpenFiles m_openFiles;
    QThreadPool m_builders; // ps replies of many tasks; waited for at the end
};
