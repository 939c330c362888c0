#pragma once

#include "iorequest.h"

#include "../process/childprocess.h"
#include "../process/processreactor.h"
#include "../timerheap.h"

#include <QObject>
#include <QPointer>

#include <functional>
#include <memory>

class QNetworkReply;
class HttpClient;

// Carries out one IoRequest on the engine thread and calls `done` once, after writing the
// result into the request. Destroying it before then aborts the work (kills the process
// group, aborts the request) without calling `done`.
class IoCall
{
public:
    using Done = std::function<void()>;
    static std::unique_ptr<IoCall> start(std::shared_ptr<IoRequest> request, TimerHeap &timers,
                                         Done done);
    virtual ~IoCall();
    bool isComplete() const { return m_completed; }

protected:
    IoCall(std::shared_ptr<IoRequest> request, TimerHeap &timers, Done done);
    void armTimeout();
    virtual void timedOut() = 0;
    void complete();

    std::shared_ptr<IoRequest> m_request;
    TimerHeap &m_timers;
    TimerHeap::Id m_timeout = 0;
    Done m_done;
    bool m_completed = false;
};

// exec(): a child process in a process group of its own, output collected (bounded).
class ExecCall final : public IoCall, public ProcessReactor::Client
{
public:
    ExecCall(std::shared_ptr<IoRequest> request, TimerHeap &timers, Done done);
    ~ExecCall() override;
    void begin();

    void fdReady(int tag, quint32 events) override;
    void wakeDone() override {}

private:
    void timedOut() override;
    void drain(int fd, QByteArray &into);
    void finishIfExited();

    std::shared_ptr<ProcessReactor> m_reactor;
    ProcessReactor::ClientId m_client = 0;
    ChildProcess m_child;
    int m_stdinFd = -1;
};

// http.*: one request through the engine thread's shared HttpClient.
class HttpCall final : public IoCall
{
public:
    HttpCall(std::shared_ptr<IoRequest> request, TimerHeap &timers, Done done);
    ~HttpCall() override;
    void begin();

private:
    void timedOut() override;
    void finished();
    bool takeBody();
    void stop(bool abort);

    std::shared_ptr<HttpClient> m_client;
    QPointer<QNetworkReply> m_reply;
    QList<QMetaObject::Connection> m_connections;
};
