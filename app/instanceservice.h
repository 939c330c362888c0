#pragma once

#include "ipc/instanceprotocol.h"

#include <QJsonObject>
#include <QStringList>

#include <functional>

class Engine;
class TaskStore;

// What the running dashboard answers on its instance socket (InstanceProtocol):
// `taskdeck FILE...` handed over, and the submit, ps and cancel commands, done through
// the engine's public API. Replies to a submit only once the store (if any) has the
// new tasks on disk, so an acknowledged task survives a crash; when the store cannot
// write them, the reply is an error (the tasks stay queued, unsaved), and without a
// store it says they are not saved. Main thread.
class InstanceService
{
public:
    // Submits files as a drop on the window does and brings the window to the front;
    // returns the number of tasks queued.
    using OpenFiles = std::function<int(const QStringList &files)>;

    // `store` may be null (no store: nothing to wait for).
    InstanceService(Engine *engine, TaskStore *store, OpenFiles openFiles);

    QJsonObject handle(const InstanceProtocol::Request &request);

private:
    QJsonObject open(const InstanceProtocol::Request &request);
    QJsonObject submit(const InstanceProtocol::Request &request);
    QJsonObject ps(const InstanceProtocol::Request &request) const;
    QJsonObject cancel(const InstanceProtocol::Request &request);
    // Returns once the engine has taken every request made so far and the store has
    // committed what it was told about them: empty, else why the store could not.
    QString commit();

    Engine *m_engine;
    TaskStore *m_store;
    OpenFiles m_openFiles;
};
