#include "mainwindow.h"

#include "scriptloader.h"

#include <QDir>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileInfo>
#include <QHeaderView>
#include <QLabel>
#include <QMessageBox>
#include <QMimeData>
#include <QStatusBar>
#include <QTreeWidget>

MainWindow::MainWindow(Engine *engine, QWidget *parent)
    : QMainWindow(parent)
    , m_engine(engine)
    , m_counts(new QLabel(this))
    , m_tasks(new QTreeWidget(this))
{
    setWindowTitle(QStringLiteral("Taskdeck"));
    setAcceptDrops(true);
    m_tasks->setHeaderLabels({tr("ID"), tr("Name"), tr("Group"), tr("Priority"), tr("State"),
                              tr("Attempt"), tr("Result or error")});
    m_tasks->setRootIsDecorated(false);
    m_tasks->header()->setStretchLastSection(true);
    setCentralWidget(m_tasks);
    statusBar()->addWidget(m_counts);
    connect(m_engine, &Engine::updated, this, &MainWindow::onUpdate);
    resize(1000, 600);
}

void MainWindow::submitFiles(const QStringList &files)
{
    QStringList rejected;
    QList<TaskSpec> specs;
    for (const QString &path : files) {
        QStringList paths{path};
        if (QFileInfo(path).isDir()) {
            paths.clear();
            const QDir dir(path);
            for (const QString &name : dir.entryList(QDir::Files, QDir::Name))
                paths.append(dir.filePath(name));
        }
        for (const QString &p : paths) {
            auto loaded = ScriptLoader::load(p);
            if (loaded.spec)
                specs.append(*loaded.spec);
            else
                rejected.append(loaded.error);
        }
    }
    if (!specs.isEmpty())
        m_engine->submit(specs);
    if (!rejected.isEmpty())
        QMessageBox::warning(this, tr("Some files were not queued"), rejected.join(u'\n'));
}

void MainWindow::dragEnterEvent(QDragEnterEvent *event)
{
    if (event->mimeData()->hasUrls())
        event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent *event)
{
    QStringList files;
    for (const QUrl &url : event->mimeData()->urls())
        if (url.isLocalFile())
            files.append(url.toLocalFile());
    submitFiles(files);
    event->acceptProposedAction();
}

void MainWindow::onUpdate(const EngineUpdate &update)
{
    const EngineCounts &c = update.counts;
    m_counts->setText(tr("active %1   pending %2   failed %3   succeeded %4   cancelled %5")
                          .arg(c.running)
                          .arg(c.pending)
                          .arg(c.failed + c.timedOut)
                          .arg(c.succeeded)
                          .arg(c.cancelled));
    for (const TaskSnapshot &t : update.changed) {
        QTreeWidgetItem *&item = m_items[t.id];
        if (!item) {
            item = new QTreeWidgetItem(m_tasks);
            item->setText(0, QString::number(t.id));
            item->setText(1, t.name);
            item->setText(2, t.group);
        }
        item->setText(3, QString::number(t.priority));
        item->setText(4, taskStateName(t.state));
        item->setText(5, QString::number(t.attempt));
        item->setText(6, t.error.isEmpty() ? t.result.toVariant().toString() : t.error);
    }
}
