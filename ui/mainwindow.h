#pragma once

#include "engine.h"

#include <QHash>
#include <QMainWindow>

class QLabel;
class QTreeWidget;
class QTreeWidgetItem;

// The dashboard window. Observes the engine only through its batched updates and
// talks to it only through its public API. Main thread.
class MainWindow : public QMainWindow
{
    Q_OBJECT
public:
    explicit MainWindow(Engine *engine, QWidget *parent = nullptr);

    // Loads and submits script files; rejected ones are listed with their reasons.
    void submitFiles(const QStringList &files);

protected:
    void dragEnterEvent(QDragEnterEvent *event) override;
    void dropEvent(QDropEvent *event) override;

private:
    void onUpdate(const EngineUpdate &update);

    Engine *m_engine;
    QLabel *m_counts;
    QTreeWidget *m_tasks;
    QHash<TaskId, QTreeWidgetItem *> m_items;
};
