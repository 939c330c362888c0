#pragma once

#include <QtGlobal>

#include <memory>
#include <unordered_map>

class QSocketNotifier;

// Waits for the file descriptors of every running process task of one thread (stdout
// and stderr pipes, pidfds) with one epoll instance watched by one QSocketNotifier, so
// a process costs no QObject and a wake-up costs one epoll_wait however many are ready.
//
// Owned by the thread that created it (the engine thread) and used only there.
// forThisThread() hands out the thread's instance; it lives while a task holds it, so
// its notifier is created and destroyed on that thread.
class ProcessReactor : public std::enable_shared_from_this<ProcessReactor>
{
public:
    // What a process task implements to hear about its descriptors.
    class Client
    {
    public:
        virtual ~Client() = default;
        // `fd` (watched under `tag`) is readable or hung up; `events` are EPOLL* bits.
        virtual void fdReady(int tag, quint32 events) = 0;
        // Called once per wake-up after all of this client's fdReady() calls, so the
        // client can hand its output over in one batch.
        virtual void wakeDone() = 0;
    };
    using ClientId = quint64;

    // The calling thread's reactor, created on first use; nullptr (with a warning) if
    // the kernel refuses an epoll instance.
    static std::shared_ptr<ProcessReactor> forThisThread();
    ~ProcessReactor();
    ProcessReactor(const ProcessReactor &) = delete;
    ProcessReactor &operator=(const ProcessReactor &) = delete;

    ClientId addClient(Client *client);
    // Forgets the client: events already collected for it in this wake are dropped.
    // Its descriptors must be unwatched (or closed) by the client.
    void removeClient(ClientId id);
    // Level-triggered readability of `fd`, reported as fdReady(tag, ...); tag < 256.
    bool watch(ClientId id, int fd, int tag);
    void unwatch(int fd);

    // /dev/null opened once for reading (close-on-exec): every child's stdin.
    int devNull() const { return m_devNull; }

private:
    ProcessReactor() = default;
    bool init();
    void dispatch();

    int m_epoll = -1;
    int m_devNull = -1;
    std::unique_ptr<QSocketNotifier> m_notifier;
    std::unordered_map<ClientId, Client *> m_clients;
    ClientId m_nextId = 1;
};
